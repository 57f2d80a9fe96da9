/**
 * `OUTBOX_FILE.lock`: one worker per journal. A second worker on the same file would replay and compact it under the
 * first.
 *
 * The lock is a symbolic link whose target names the holder, `<pid>:<start time>`. A link is made whole by one system
 * call (a file would exist empty before its pid is written, and a second worker reading it then would take it too),
 * and its target needs no data block, so a full disk does not stop it. The start time (field 22 of `/proc/<pid>/stat`,
 * in clock ticks since boot) tells the holder from a later process that got its pid: after a container restart, pids
 * start again from 1, and the pid a lock names is often alive, as some other process.
 */
import { closeSync, constants, linkSync, lstatSync, openSync, readFileSync, readlinkSync, readSync, renameSync, symlinkSync, unlinkSync } from "node:fs"
import { Data } from "effect"
import { errnoOf } from "../../../shared/errno.js"
import { processExists } from "../../../shared/processExists.js"

/** Where the kernel's process table is read: `/proc` (tests give a directory that says what another kernel might). */
const PROC = "/proc"

/** When `pid` started (clock ticks since boot), or "" where `/proc` does not say (not Linux, or no such process). */
const startTimeOf = (pid: number, proc = PROC): string => {
  try {
    const stat = readFileSync(`${proc}/${pid}/stat`, "utf8")
    // The command name (field 2) may hold spaces and parentheses: the fields after it start after the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? ""
  } catch {
    return ""
  }
}

/**
 * When `pid` started, in ms since the epoch (`/proc/stat`'s boot time plus the start in ticks: USER_HZ, 100 a second on
 * every mainstream Linux architecture), or null where `/proc` does not say. The boot time is the wall clock now less the
 * time since boot: a clock step since the lock was written moves the result by the step (a residual risk for locks
 * without a start time only, which this version no longer writes).
 */
const startedAtMs = (pid: number, proc: string): number | null => {
  const started = startTimeOf(pid, proc)
  const ticks = Number(started)
  try {
    const boot = /^btime (\d+)$/m.exec(readFileSync(`${proc}/stat`, "utf8"))?.[1]
    return boot === undefined || started === "" || !Number.isFinite(ticks) ? null : Number(boot) * 1000 + ticks * 10
  } catch {
    return null
  }
}

/** The lock's own time of writing, or null when it cannot be read. */
const writtenAtMs = (lock: string): number | null => {
  try {
    return lstatSync(lock).mtimeMs
  } catch {
    return null
  }
}

// A process is taken for one started after the lock only past this margin: a file system's mtime may be as coarse as
// 2 s (FAT). The boot time's truncation to whole seconds makes a start look earlier, which errs towards "held".
const START_MARGIN_MS = 2_000

/** The first `bytes` of `file` ("" when unreadable), opened so that a FIFO put in its place cannot block the start. */
const readHead = (file: string, bytes: number): string => {
  let fd: number
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch {
    return ""
  }
  try {
    const head = Buffer.alloc(bytes)
    return head.subarray(0, readSync(fd, head, 0, bytes, null)).toString("utf8")
  } catch {
    return ""
  } finally {
    closeSync(fd)
  }
}

/** The holder a lock's target names, or null when it names none (damaged, or a lock of an older version). */
const holderOf = (lock: string): { readonly pid: number; readonly started: string } | null => {
  try {
    const [pid = "", started = ""] = readlinkSync(lock).split(":")
    const holder = Number(pid)
    return /^[0-9]+$/.test(pid) && Number.isSafeInteger(holder) && holder > 0 ? { pid: holder, started } : null
  } catch (error) {
    // Not a link: a regular file, as earlier versions wrote it, holding the pid alone.
    if (errnoOf(error) !== "EINVAL") return null
    const holder = Number.parseInt(readHead(lock, 32), 10)
    return Number.isSafeInteger(holder) && holder > 0 ? { pid: holder, started: "" } : null
  }
}

/**
 * Whether the process a lock names still runs: the same pid, started at the same time when both are known. A lock
 * without a start time (an older version's) names a live pid's process only if that process started before the lock
 * was written: after a container restart pid 1 is alive, as something else.
 */
const holds = (holder: { readonly pid: number; readonly started: string }, lock: string, proc: string): boolean => {
  if (holder.pid === process.pid || !processExists(holder.pid)) return false
  if (holder.started !== "") return startTimeOf(holder.pid, proc) === holder.started
  const started = startedAtMs(holder.pid, proc)
  const written = writtenAtMs(lock)
  return started === null || written === null || started <= written + START_MARGIN_MS
}

/**
 * Take `<file>.lock` for this process; a lock whose holder is gone (kill -9, a restarted container) is taken over.
 * Throws, naming the holder, when another live worker has it. Returns the lock's path, for `releaseLock`.
 *
 * A stale lock is moved aside, not deleted: two workers starting together both read it as stale, and one of them could
 * otherwise delete the lock the other had just made in its place, so both would run. A rename moves one link; the
 * worker that moved a live lock (made after it read the stale one) puts it back and stands down. `afterRead` runs
 * between the read and the move (tests: another worker's turn); `proc` is where holders' start times are read.
 */
export const takeLock = (file: string, afterRead: () => void = () => undefined, proc = PROC): string => {
  const lock = `${file}.lock`
  const mine = ownTarget()
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      symlinkSync(mine, lock)
      return lock
    } catch (error) {
      if (errnoOf(error) !== "EEXIST") throw error
    }
    // A directory in the lock's place is nobody's lock, and not ours to delete with what it may hold.
    if (isDirectory(lock)) throw new Error(`${lock} is a directory, not a lock: move it away`)
    const holder = holderOf(lock)
    if (holder !== null && holds(holder, lock, proc)) throw new LockHeld({ holder: holder.pid, lock })
    afterRead()
    const aside = `${lock}.${process.pid}.stale`
    try {
      renameSync(lock, aside)
    } catch (error) {
      // Another worker moved it first: try again, and find its lock.
      if (errnoOf(error) === "ENOENT") continue
      throw error
    }
    const moved = holderOf(aside)
    if (moved !== null && holds(moved, aside, proc)) {
      putBack(aside, lock)
      throw new LockHeld({ holder: moved.pid, lock })
    }
    unlinkSync(aside)
  }
  throw new Error(`${lock} could not be taken`)
}

/** Another live worker holds the lock (thrown: `takeLock` is synchronous). Other failures to take it are plain errors. */
export class LockHeld extends Data.TaggedError("LockHeld")<{ readonly holder: number; readonly lock: string }> {
  override get message(): string {
    return `it is in use by process ${this.holder} (${this.lock})`
  }
}

let ownTargetRead: string | undefined
/** What this process writes as the lock's target (read once: it is checked before every journal line). */
const ownTarget = (): string => (ownTargetRead ??= `${process.pid}:${startTimeOf(process.pid)}`)

/** Whether the lock at `lock` is this process's (a lock deleted, or made by another worker since, is not). */
export const isOwnLock = (lock: string): boolean => {
  try {
    return readlinkSync(lock) === ownTarget()
  } catch {
    return false
  }
}

const isDirectory = (path: string): boolean => {
  try {
    return lstatSync(path).isDirectory()
  } catch {
    return false
  }
}

/** A live lock moved aside by mistake goes back, unless a lock was made in its place meanwhile. */
const putBack = (aside: string, lock: string): void => {
  try {
    linkSync(aside, lock)
  } catch {
    // A lock is there again: its maker holds it.
  }
  unlinkSync(aside)
}

/**
 * Remove the lock if it is still this process's: one deleted with its directory may since have been taken by another
 * worker, whose lock it is then.
 */
export const releaseLock = (lock: string): void => {
  if (!isOwnLock(lock)) return
  try {
    unlinkSync(lock)
  } catch {
    // Already gone: nothing to release.
  }
}
