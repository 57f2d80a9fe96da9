/**
 * The journal rewritten with what is pending, through a temporary file beside it renamed over it, so that a crash at
 * any point leaves the old file or the new one whole: at start on the main thread (`rewrite`), and while the worker
 * runs on the thread pool a slice at a time (`prepareRewrite`), with the lines journalled meanwhile added at its end: 64
 * MB pending had stalled every request for half a second at each rewrite (probe 52 L3).
 */
import { randomBytes } from "node:crypto"
import { closeSync, lstatSync, readdirSync } from "node:fs"
import { basename, dirname } from "node:path"
import { writeAll } from "../../../shared/writeAll.js"
import { closeQuietly, type JournalDisk, unlinkQuietly, writeWhole } from "./journalDisk.js"
import { type JournalledCallback, pendingLine } from "./journalLine.js"

/** The syncs of a rewrite under way before it is put in place, whatever comes meanwhile: a busy journal cannot hold it off. */
const MAX_REWRITE_SYNCS = 3

/** What a rewrite under way hands the thread pool at a time: a slice whose lines take the main thread a short turn to make. */
const REWRITE_SLICE_CHARS = 256 * 1024

/**
 * The bytes of the lines journalled during a rewrite under way, held for its end, past which it is given up: a disk call
 * of it that never returns (a hung network disk) had held every later line in memory and stopped compaction, unsaid
 * (review 59 I7).
 */
export const MAX_REWRITE_TAIL_BYTES = 64 * 1024 * 1024

/**
 * The temporary files of rewrites a process was killed in the middle of: named as `rewrite` names them, regular files,
 * removed once this worker holds the lock (review 55 L2: each crash left one on the instance's disk). Never thrown.
 */
export const removeStaleRewrites = (file: string): void => {
  const prefix = `${basename(file)}.`
  let names: ReadonlyArray<string>
  try {
    names = readdirSync(dirname(file))
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^[0-9a-f]{16}\.tmp$/.test(name.slice(prefix.length))) continue
    const path = `${dirname(file)}/${name}`
    if (lstatSync(path, { throwIfNoEntry: false })?.isFile() === true) unlinkQuietly(path)
  }
}

/**
 * A rewrite's temporary file: a name no one can foresee, made there or not at all (`createFresh`). A FIFO put at a
 * predictable one froze the worker in `open`, and a symbolic link there had another file overwritten (probe 50 M1).
 */
const freshNameOf = (file: string): string => `${file}.${randomBytes(8).toString("hex")}.tmp`

/**
 * Replace `file` with the pending lines of `live`, through a temporary file renamed over it: a crash at any point
 * leaves the old file or the new one whole. Returns the new file's size. The temporary file never outlives a failure.
 * `sync: false` leaves the new file's safety from a power cut to the kernel: an fsync of the journal is out, so the
 * disk is slow or stuck, and one more on the main thread would hold the worker as long (review 63 #4: the stop's).
 */
export const rewrite = (file: string, live: Iterable<JournalledCallback>, disk: JournalDisk, sync = true): number => {
  const fresh = freshNameOf(file)
  let fd: number | null = null
  let created = false
  try {
    fd = disk.createFresh(fresh)
    created = true
    let bytes = 0
    for (const callback of live) bytes += writeAll(fd, pendingLine(callback))
    if (sync) disk.fsyncSync(fd)
    closeSync(fd)
    fd = null
    disk.rename(fresh, file)
    return bytes
  } catch (error) {
    if (fd !== null) closeSync(fd)
    // What another process made at the name (the open failed) is not ours to remove.
    if (created) unlinkQuietly(fresh)
    throw error
  }
}

/** A rewrite of the journal under way while the worker runs. */
export interface RewriteUnderWay {
  /** A line journalled meanwhile, which the new file ends with: how many bytes of such lines it holds now. */
  readonly add: (line: string) => number
  /** Starts its first step: after it is handed back, as a rewrite with nothing to write ends in that step. */
  readonly begin: () => void
  /** Given up: its file removed at once, its descriptor closed once the thread pool is done with it. */
  readonly cancel: () => void
  /** Whether it has not ended yet. */
  readonly underWay: () => boolean
  /**
   * Whether one of its disk calls has not returned yet: given up, it still holds a thread of the pool until then, and
   * another rewrite on a hung disk would hold one more (review 61 #4).
   */
  readonly onDisk: () => boolean
  /** Settles once it has ended, whichever way (tests wait for one). */
  readonly whenEnded: () => Promise<void>
}

/** How a rewrite under way ends, besides being cancelled. */
export interface RewriteEnds {
  /** Whether the journal was lost meanwhile (closed, deleted, its lock lost): the new file is then dropped, unsaid. */
  readonly superseded: () => boolean
  /** Renamed over the journal, `bytes` long: appends go to it from now on. */
  readonly placed: (bytes: number) => void
  /** A disk call failed: its file is removed, and the journal left as it was. */
  readonly failed: (error: unknown) => void
  /** Dropped, superseded. */
  readonly dropped: () => void
}

/**
 * Rewrite `file` with `snapshot` on the thread pool a slice at a time, then the lines `add`ed meanwhile; put in place
 * on the main thread once synced, as `rewrite` does. Made, it waits for `begin`. Throws if its temporary file cannot be
 * made.
 */
export const prepareRewrite = (file: string, snapshot: ReadonlyArray<JournalledCallback>, disk: JournalDisk, ends: RewriteEnds): RewriteUnderWay => {
  const fresh = freshNameOf(file)
  const target = disk.createFresh(fresh)
  /** The lines journalled since it took what was pending, not yet written to it: the new file ends with them. */
  const tail: Array<string> = []
  let tailChars = 0
  let tailBytes = 0
  /** A disk call handed to the thread pool and not returned. */
  let onDisk = false
  let cancelled = false
  let ended = false
  const waiters: Array<() => void> = []
  const end = () => {
    ended = true
    for (const settle of waiters.splice(0)) settle()
  }
  const failed = (error: unknown) => {
    unlinkQuietly(fresh)
    end()
    ends.failed(error)
  }
  let next = 0
  let bytes = 0
  /** The bytes the last fsync of the new file covered, and how many were made. */
  let syncedBytes = 0
  let syncs = 0
  const putInPlace = () => {
    const superseded = ends.superseded()
    let problem: unknown = null
    try {
      // The last of the tail (a slice or one line at most), written in the turn that puts the file in place: no
      // line can fall between the two. Synced with the lines that follow, as any appended line is.
      if (!superseded) for (const line of tail) bytes += writeAll(target, line)
    } catch (error) {
      problem = error
    }
    try {
      closeSync(target)
    } catch (error) {
      problem ??= error
    }
    if (superseded) {
      unlinkQuietly(fresh)
      end()
      return ends.dropped()
    }
    if (problem === null) {
      try {
        disk.rename(fresh, file)
      } catch (error) {
        problem = error
      }
    }
    if (problem !== null) return failed(problem)
    end()
    ends.placed(bytes)
  }
  /**
   * Lines from `more` (undefined when none is left), a slice's worth, written on the thread pool; then `step`. `taken`
   * hears the slice's size before it goes.
   */
  const writeSlice = (more: () => string | undefined, taken: (bytes: number) => void = () => undefined) => {
    let slice = ""
    while (slice.length < REWRITE_SLICE_CHARS) {
      const line = more()
      if (line === undefined) break
      slice += line
    }
    const data = Buffer.from(slice)
    bytes += data.length
    taken(data.length)
    onDisk = true
    writeWhole(disk, target, data, step)
  }
  const fromSnapshot = () => (next < snapshot.length ? pendingLine(snapshot[next++]!) : undefined)
  const fromTail = () => {
    const line = tail.shift()
    if (line !== undefined) tailChars -= line.length
    return line
  }
  // Each step runs when the thread pool is done with the one before: a cancelled rewrite closes its descriptor only then.
  const step = (error: NodeJS.ErrnoException | null) => {
    onDisk = false
    if (cancelled || error !== null) {
      closeQuietly(target)
      return cancelled ? undefined : failed(error)
    }
    if (next < snapshot.length) return writeSlice(fromSnapshot)
    // What was journalled meanwhile goes the same way while more than a line and a slice of it wait (1 MiB lines
    // coming in during a 64 MB rewrite had made a tail of tens of MB, written in one turn at the end).
    // The slice's own size is what those lines held: not measured a second time.
    if (tail.length > 1 && tailChars > REWRITE_SLICE_CHARS) return writeSlice(fromTail, (size) => void (tailBytes -= size))
    // Synced before it replaces a file whose lines were synced (review 59 M1), again while a tail came during the
    // last sync, a few times at most: what comes during the last is written with the rename, and synced after it, as
    // any new line is.
    if (syncedBytes < bytes && syncs < MAX_REWRITE_SYNCS) {
      const covering = bytes
      syncs++
      onDisk = true
      return disk.fsync(target, (syncError) => {
        syncedBytes = covering
        step(syncError)
      })
    }
    putInPlace()
  }
  return {
    add: (line) => {
      tail.push(line)
      tailChars += line.length
      tailBytes += Buffer.byteLength(line)
      return tailBytes
    },
    begin: () => step(null),
    cancel: () => {
      if (ended) return
      cancelled = true
      unlinkQuietly(fresh)
      end()
    },
    underWay: () => !ended,
    onDisk: () => onDisk,
    whenEnded: () => (ended ? Promise.resolve() : new Promise((settle) => waiters.push(settle)))
  }
}
