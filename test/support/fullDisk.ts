/**
 * A disk that fills and empties again, for the callback journal: while full, the journal's open descriptor writes to
 * `/dev/full` (`fillDiskUnder`), and so does every rewrite's temporary file, as on a real full disk.
 */
import { openSync } from "node:fs"
import { type JournalDisk, nodeJournalDisk } from "../../src/worker/callbacks/journal/journalDisk.js"
import { fillDiskUnder, freeDiskUnder } from "./descriptors.js"

export interface FillableDisk {
  /** Give this to `openJournal` (or the poster's `journalDisk`). */
  readonly disk: JournalDisk
  /** The disk under `file` is full from now on; the descriptor to give `free`. */
  readonly fill: (file: string) => number
  /** It has room again. */
  readonly free: (fd: number, file: string) => void
}

export const fillableDisk = (): FillableDisk => {
  let full = false
  return {
    disk: { ...nodeJournalDisk, createFresh: (path) => (full ? openSync("/dev/full", "w") : nodeJournalDisk.createFresh(path)) },
    fill: (file) => {
      full = true
      return fillDiskUnder(file)
    },
    free: (fd, file) => {
      full = false
      freeDiskUnder(fd, file)
    }
  }
}
