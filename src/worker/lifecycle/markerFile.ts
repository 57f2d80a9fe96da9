/**
 * The marker files the worker writes whole at a moment it chooses: the exit marker at the end of a stop
 * (`NULL_EXIT_FILE`), the update marker on `/pyworker/update` (`NULL_FORCE_UPDATE_FILE`). Their paths were checked at
 * start, but anything may be put there since: a FIFO, whose opening would block the thread for good (a stop that never
 * ends, or a thread of libuv's pool held), a device, or a link to the callback journal, which a marker written whole
 * would wipe. So the file is opened without blocking, and written only if what was opened is a regular file other than
 * the ones the worker keeps.
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync } from "node:fs"
import { errnoOf } from "../../shared/errno.js"
import { isSameFile, kindOf, ownOutputOf, statOrUndefined } from "../../shared/fileStats.js"
import { writeAll } from "../../shared/writeAll.js"

/** A marker left unwritten: what was found at its path. */
export class MarkerRefused extends Error {}

/** Without O_NONBLOCK, opening a FIFO to write waits for a reader; with it, it fails at once (ENXIO) when none reads. */
const openWithoutWaiting = (path: string): number => {
  try {
    // O_NOCTTY: a terminal put at the path never becomes the worker's controlling terminal (it is refused once opened).
    return openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NONBLOCK | constants.O_NOCTTY, 0o644)
  } catch (error) {
    if (errnoOf(error) === "ENXIO") throw new MarkerRefused(`${path} is a FIFO (with no reader), not a regular file`)
    throw error
  }
}

/**
 * Write `text` to `path` (following links, creating it if need be), unless what is there is not a regular file or is
 * one of `keep` (the journal): then `MarkerRefused`, and nothing is changed. Other failures are Node's (`ENOENT`, …).
 */
export const writeMarkerFile = (path: string, text: string, keep: ReadonlyArray<string>): void => {
  const fd = openWithoutWaiting(path)
  try {
    // Decided on what was opened, not on the path, which can change in between; truncated only once decided.
    const opened = fstatSync(fd)
    if (!opened.isFile()) throw new MarkerRefused(`${path} is ${kindOf(opened)}, not a regular file`)
    const output = ownOutputOf(opened)
    if (output !== null) throw new MarkerRefused(`${path} is now this process's ${output}, which a marker would write over`)
    for (const kept of keep) {
      if (isSameFile(opened, statOrUndefined(kept))) throw new MarkerRefused(`${path} is now ${kept}, which the worker keeps`)
    }
    ftruncateSync(fd, 0)
    writeAll(fd, text)
  } finally {
    closeSync(fd)
  }
}
