/** What a journal left pending: read back at start, and from a file found in the journal's place while running. */
import { closeSync, constants, fstatSync, openSync } from "node:fs"
import { Either } from "effect"
import { errnoOf } from "../../../shared/errno.js"
import { kindOf } from "../../../shared/fileStats.js"
import { decodeLine, type JournalledCallback } from "./journalLine.js"
import { forEachLine } from "./lineReader.js"

/** The longest line replayed: a callback body is at most 1 MiB, and JSON escaping can make it six times as long. */
const MAX_LINE_BYTES = 8 * 1024 * 1024

/**
 * The largest file a running worker reads when it finds another file in its journal's place (its journal deleted and
 * another written there): that read runs before a line is written, on the request path, and a file that large is left
 * for the next start, whose replay reads it whole.
 */
export const MAX_LEFTOVER_BYTES = 64 * 1024 * 1024

/**
 * The callbacks left pending in `file`, and how many lines were not journal lines. Only a regular file is read, and
 * only up to the size it had when opened: the path may have been replaced while the worker ran, by a device that
 * never ends or a file still growing. `maxBytes`: a larger file is refused, unread. (`readLines`: tests watch the read.)
 */
export const replay = (
  file: string,
  maxBytes = Number.POSITIVE_INFINITY,
  readLines: typeof forEachLine = forEachLine
): { readonly left: ReadonlyArray<JournalledCallback>; readonly skipped: number } => {
  const pending = new Map<string, JournalledCallback>()
  let skipped = 0
  let fd: number
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return { left: [], skipped: 0 }
    throw error
  }
  try {
    const stats = fstatSync(fd)
    if (!stats.isFile()) throw new Error(`${file} is ${kindOf(stats)}, not a regular file: not read`)
    if (stats.size > maxBytes) throw new Error(`${file} holds ${stats.size} bytes, more than a running worker reads (${maxBytes}): left for the next start`)
    let first = true
    readLines(fd, MAX_LINE_BYTES, (read) => {
      // A file saved by an editor that marks its encoding (a BOM) begins with the mark: not part of the first line.
      const line = first && read !== null && read.startsWith("\uFEFF") ? read.slice(1) : read
      first = false
      if (line !== null && line.trim() === "") return
      const decoded = line === null ? null : decodeLine(line)
      if (decoded === null || Either.isLeft(decoded)) return void skipped++
      const entry = decoded.right
      if (entry.op === "pending") pending.set(entry.callback.session_id, entry.callback)
      else pending.delete(entry.session_id)
    }, undefined, stats.size)
  } finally {
    closeSync(fd)
  }
  return { left: [...pending.values()], skipped }
}
