/** What a file's `stat` tells the files the worker writes (the journal, the markers) about what is at their path. */
import { fstatSync, type Stats, statSync } from "node:fs"

/** What a file that is not a regular one is, for a message: `… is a FIFO, not a regular file`. */
export const kindOf = (stats: Stats): string =>
  stats.isDirectory() ? "a directory" : stats.isFIFO() ? "a FIFO" : stats.isSocket() ? "a socket" : "a device or another special file"

/** Two stats of one file (one of them may be missing: nothing is there). */
export const isSameFile = (one: Stats, other: Stats | undefined): boolean => other !== undefined && one.dev === other.dev && one.ino === other.ino

/** What is at `path`, links followed; undefined if nothing is or it cannot be looked at (a broken path, no access). */
export const statOrUndefined = (path: string): Stats | undefined => {
  try {
    return statSync(path)
  } catch {
    return undefined
  }
}

const OWN_OUTPUTS = [
  [1, "standard output"],
  [2, "standard error"]
] as const

/**
 * Which of this process's own outputs `stats` is, if either: a worker whose output goes to a log file would wipe that log
 * writing a marker over it (`NULL_EXIT_FILE=/dev/stdout`, or the log's own path), or mix journal lines into it.
 */
export const ownOutputOf = (stats: Stats): string | null => {
  for (const [fd, name] of OWN_OUTPUTS) {
    try {
      if (isSameFile(stats, fstatSync(fd))) return name
    } catch {
      // Closed: nothing to overwrite there.
    }
  }
  return null
}
