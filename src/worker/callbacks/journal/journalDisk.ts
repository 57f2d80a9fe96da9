/** How the journal reaches the disk, and the file calls its parts share. */
import { closeSync, constants, fstatSync, fsync, fsyncSync, openSync, renameSync, unlinkSync, write as writeAt } from "node:fs"

/** The journal's files hold callback URLs with their credentials, which logs and `/debug` redact: owner only. */
const FILE_MODE = 0o600

/**
 * How the journal reaches the disk: Node's calls (tests hold the fsyncs to decide when they end, and make the rewrite's
 * file a full disk's).
 */
export interface JournalDisk {
  readonly fsync: (fd: number, done: (error: NodeJS.ErrnoException | null) => void) => void
  readonly fsyncSync: (fd: number) => void
  /** Makes the rewrite's temporary file at `path`, which must not exist, for writing; its descriptor. */
  readonly createFresh: (path: string) => number
  /** Puts the rewritten file in place (tests put a link there between this and the open that follows). */
  readonly rename: (from: string, to: string) => void
  /** Writes `data` at the descriptor's position on the thread pool (a rewrite while the worker runs); may write part of it. */
  readonly write: (fd: number, data: Uint8Array, done: (error: NodeJS.ErrnoException | null, written: number) => void) => void
}

export const nodeJournalDisk: JournalDisk = {
  fsync,
  fsyncSync,
  write: (fd, data, done) => writeAt(fd, data, 0, data.length, null, (error, written) => done(error, written)),
  // Made here or not at all, never followed through a link, never waited on (probe 50 M1).
  createFresh: (path) => openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY, FILE_MODE),
  rename: renameSync
}

/**
 * The journal opened to append, never waited on and never through a link: a FIFO put at its path is refused (ENXIO),
 * not blocked on, and a link put there (`file` is the path the configured one leads to) is refused (ELOOP) rather than
 * followed to another file (review 55 L2).
 */
export const openForAppend = (file: string): number =>
  openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_NOFOLLOW, FILE_MODE)

/** All of `data` written through `disk.write` (a nearly full disk writes part of it, and fails only on the next call). */
export const writeWhole = (disk: JournalDisk, fd: number, data: Uint8Array, done: (error: NodeJS.ErrnoException | null) => void): void =>
  disk.write(fd, data, (error, written) => {
    if (error !== null) return done(error)
    if (written === 0) return done(Object.assign(new Error("the disk took none of a rewrite's bytes"), { code: "EIO" }))
    if (written < data.length) return writeWhole(disk, fd, data.subarray(written), done)
    done(null)
  })

/** Whether the file open at `fd` still has a name (it was not deleted). */
export const isLinked = (fd: number): boolean => {
  try {
    return fstatSync(fd).nlink > 0
  } catch {
    return false
  }
}

export const closeQuietly = (fd: number) => {
  try {
    closeSync(fd)
  } catch {
    // Already closed: nothing to release.
  }
}

export const unlinkQuietly = (file: string) => {
  try {
    unlinkSync(file)
  } catch {
    // Already gone: nothing to release.
  }
}
