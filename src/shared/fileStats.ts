/** What a file's `stat` tells the files the worker writes (the journal, the markers) about what is at their path. */
import type { Stats } from "node:fs"

/** What a file that is not a regular one is, for a message: `… is a FIFO, not a regular file`. */
export const kindOf = (stats: Stats): string => (stats.isDirectory() ? "a directory" : stats.isFIFO() ? "a FIFO" : "a device or another special file")

/** Two stats of one file (one of them may be missing: nothing is there). */
export const isSameFile = (one: Stats, other: Stats | undefined): boolean => other !== undefined && one.dev === other.dev && one.ino === other.ino
