/**
 * `OUTBOX_FILE`: pending callbacks journalled as append-only JSON lines, so that a `kill -9` or an out-of-memory
 * kill does not lose them: the next process on the instance replays every callback that has a `pending` line and no
 * `done` line, then compacts the file to those.
 *
 * Lines: `{"op":"pending","callback":{…}}` and `{"op":"done","session_id":"…"}`. A torn last line (the
 * process died mid-write) is skipped. Each line is written synchronously, one `write` per close and per delivery
 * (paid only when the variable is set): once it returns, the line is the kernel's, and no death of the process loses
 * it. The `fsync` that makes it safe from a power cut runs off the main thread, one at a time, each covering every
 * line before it: a slow disk delays that, not every request (an fsync of 0.7 s had made each `/release` take as long).
 *
 * A write that fails once the journal is open (a full disk, an I/O error) never reaches the caller: the outbox goes
 * on delivering from memory, and `onWriteFailure` hears why. Only the crash-safety of that callback is lost. A
 * rewrite that fails (at start, or while running) leaves the file as it was, appended to.
 *
 * The file is rewritten with its live lines at start and whenever delivered lines make up most of it past a few
 * MiB, so it stays within about twice what is pending; it is created owner-only, since it holds callback URLs whole.
 * While the worker runs, a rewrite is written off the main thread a slice at a time, and the lines journalled meanwhile
 * are added at its end: 64 MB pending had stalled every request for half a second at each rewrite (probe 52 L3).
 */
import { randomBytes } from "node:crypto"
import { accessSync, closeSync, constants, existsSync, fstatSync, fsync, fsyncSync, lstatSync, openSync, readdirSync, readlinkSync, realpathSync, renameSync, statfsSync, statSync, unlinkSync, write as writeAt } from "node:fs"
import { basename, dirname, join, resolve } from "node:path"
import { Effect, Either, Schema } from "effect"
import { CloseReason } from "../../protocol/callback.js"
import { SESSION_ID_MAX_LENGTH } from "../../protocol/SessionId.js"
import { errnoOf } from "../../shared/errno.js"
import { isSameFile, kindOf, ownOutputOf, statOrUndefined } from "../../shared/fileStats.js"
import type { Stats } from "node:fs"
import { writeAll } from "../../shared/writeAll.js"
import { isOwnLock, LockHeld, releaseLock, takeLock } from "./journalLock.js"
import { forEachLine } from "./lineReader.js"
import { parseBoundedJsonWith } from "../../shared/boundedJson.js"

/** A session id as the worker issues them: a hand-edited line's 200,000-character one was logged whole (probe 52 I5). */
const JournalledSessionId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(SESSION_ID_MAX_LENGTH))

export const JournalledCallback = Schema.Struct({
  session_id: JournalledSessionId,
  generation: Schema.Int,
  route: Schema.String,
  body: Schema.String,
  reason: CloseReason
})
export type JournalledCallback = typeof JournalledCallback.Type

const JournalLine = Schema.Union(
  Schema.Struct({ op: Schema.Literal("pending"), callback: JournalledCallback }),
  Schema.Struct({ op: Schema.Literal("done"), session_id: JournalledSessionId })
)
const decodeLine = Schema.decodeUnknownEither(parseBoundedJsonWith(JournalLine))

export interface OutboxJournal {
  /** Record a callback before its first attempt: whether its line was written (a full disk, say, refuses it). Never throws. */
  readonly pending: (callback: JournalledCallback) => boolean
  /** Record that a callback was delivered or given up for good. Never throws. */
  readonly done: (sessionId: string) => void
  /**
   * After a line failed (a full disk), rewrite the file with what is pending, if it can be now: whether the file is
   * whole. Done before each line too; the stop calls it before it reads back what the file keeps. Never throws.
   */
  readonly catchUp: () => boolean
  /** Settles once no rewrite is under way off the main thread (tests wait for one; the close gives one up). */
  readonly whenRewritten: () => Promise<void>
  readonly close: () => void
}

/** What opening the journal found. */
export interface JournalOpened {
  readonly journal: OutboxJournal
  /** The callbacks a previous process left pending, in the order they were queued. */
  readonly left: ReadonlyArray<JournalledCallback>
  /** Lines that were not a journal line (torn, damaged, too long): dropped by the compaction. */
  readonly skipped: number
  /**
   * Where the journal is written: `OUTBOX_FILE` with its links followed and its directory's real path, fixed at open,
   * so that a link re-pointed later moves neither the file nor its lock (probe 54 #3).
   */
  readonly file: string
}

/** The longest line replayed: a callback body is at most 1 MiB, and JSON escaping can make it six times as long. */
const MAX_LINE_BYTES = 8 * 1024 * 1024

/**
 * Kernel file systems whose "regular files" are interfaces: root may open one for writing (`access` says yes), and the
 * write fails or changes a kernel setting (a pid written to `cgroup.procs` moves that process); nothing is kept for a
 * supervisor or a restart to read back. (statfs magic numbers, from Linux's magic.h.)
 */
const PSEUDO_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, "procfs"],
  [0x62656572, "sysfs"],
  [0x63677270, "cgroup2"],
  [0x27e0eb, "cgroup"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x73636673, "securityfs"],
  [0x62656570, "configfs"],
  [0xde5e81e4, "efivarfs"],
  [0xcafe4a11, "bpf"],
  [0x6165676c, "pstore"]
])

/**
 * Why `file` cannot be the journal, or null: it must be a regular file (a FIFO would block the start, a device never
 * ends) that can be read and written, or not exist yet, in a directory that exists and can be written (the lock, the
 * rewrite's temporary file and its rename all go there). Checked when the configuration is read, so that a mistake
 * is a launch failure naming `OUTBOX_FILE`.
 */
export const journalPathProblem = (configured: string): string | null => {
  const file = followLinks(configured)
  try {
    const stats = statSync(file)
    if (!stats.isFile()) return `${file} is ${kindOf(stats)}, not a regular file`
    const pseudo = PSEUDO_FILESYSTEMS.get(statfsSync(file).type)
    if (pseudo !== undefined) return `${file} is on ${pseudo}, where what is written is not kept as a file's contents`
    accessSync(file, constants.R_OK | constants.W_OK)
  } catch (error) {
    const code = errnoOf(error)
    if (code !== "ENOENT") return `${file} cannot be used (${code ?? String(error)})`
  }
  // What the kernel opens there too: a link into `/proc/self/fd` (`/dev/stdout`) reads as `pipe:[N]`, which
  // `followLinks` takes for a file not made yet.
  const opened = statOrUndefined(configured)
  if (opened !== undefined && !opened.isFile()) return `${configured} is ${kindOf(opened)}, not a regular file`
  const output = opened === undefined ? null : ownOutputOf(opened)
  if (output !== null) return `${configured} is this process's ${output}, which it would write over`
  // The directory exists, or is missing (a parent that is a file failed above: ENOTDIR).
  const directory = dirname(file)
  try {
    accessSync(directory, constants.W_OK)
    return null
  } catch (error) {
    const code = errnoOf(error)
    return code === "ENOENT" ? `its directory ${directory} does not exist` : `its directory ${directory} cannot be written (${code ?? String(error)})`
  }
}

/**
 * The journal's lock is taken by name (`<file>.lock`): a worker given another name of the same file (a hard link) would
 * take its own lock, replay what this one is delivering and send it again. Checked when the journal opens, after the
 * settings (which report a marker that is the journal under another name as the clash it is).
 */
const otherNamesProblem = (file: string): string | null => {
  const links = statSync(file, { throwIfNoEntry: false })?.nlink ?? 1
  return links > 1 ? `${file} has ${links} names (hard links); its lock is taken by name, so a worker on another name would send its callbacks again` : null
}

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

/** The journal's files hold callback URLs with their credentials, which logs and `/debug` redact: owner only. */
const FILE_MODE = 0o600

/** Appended bytes past which the journal is rewritten with its live lines, once they are at most half of it. */
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024

/** The syncs of a rewrite under way before it is put in place, whatever comes meanwhile: a busy journal cannot hold it off. */
const MAX_REWRITE_SYNCS = 3

/** What a rewrite under way hands the thread pool at a time: a slice whose lines take the main thread a short turn to make. */
const REWRITE_SLICE_CHARS = 256 * 1024

/**
 * The lines journalled during a rewrite under way, held for its end, past which it is given up: a disk call of it that
 * never returns (a hung network disk) had held every later line in memory and stopped compaction, unsaid (review 59 I7).
 */
export const MAX_REWRITE_TAIL_CHARS = 64 * 1024 * 1024

/**
 * The journal opened to append, never waited on and never through a link: a FIFO put at its path is refused (ENXIO),
 * not blocked on, and a link put there (`file` is the path the configured one leads to) is refused (ELOOP) rather than
 * followed to another file (review 55 L2).
 */
const openForAppend = (file: string): number =>
  openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_NOFOLLOW, FILE_MODE)

/**
 * The temporary files of rewrites a process was killed in the middle of: named as `rewrite` names them, regular files,
 * removed once this worker holds the lock (review 55 L2: each crash left one on the instance's disk). Never thrown.
 */
const removeStaleRewrites = (file: string): void => {
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

const pendingLine = (callback: JournalledCallback): string => JSON.stringify({ op: "pending", callback }) + "\n"

/**
 * A rewrite's temporary file: a name no one can foresee, made there or not at all (`createFresh`). A FIFO put at a
 * predictable one froze the worker in `open`, and a symbolic link there had another file overwritten (probe 50 M1).
 */
const freshNameOf = (file: string): string => `${file}.${randomBytes(8).toString("hex")}.tmp`

/**
 * Replace `file` with the pending lines of `live`, through a temporary file renamed over it: a crash at any point
 * leaves the old file or the new one whole. Returns the new file's size. The temporary file never outlives a failure.
 */
const rewrite = (file: string, live: Iterable<JournalledCallback>, disk: JournalDisk): number => {
  const fresh = freshNameOf(file)
  let fd: number | null = null
  let created = false
  try {
    fd = disk.createFresh(fresh)
    created = true
    let bytes = 0
    for (const callback of live) bytes += writeAll(fd, pendingLine(callback))
    fsyncSync(fd)
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

/** What the journal tells its user besides failed writes: each is said once per event, and never thrown. */
export interface JournalNotices {
  /** The file could not be rewritten (at start, or to shed delivered lines): it keeps growing until it can. */
  readonly notCompacted: (cause: string) => void
  /** The file was deleted while open: it was written again with the callbacks still pending. */
  readonly recreated: (pending: number) => void
  /**
   * The file was deleted with its directory: it cannot be written again until the directory exists (tried at each new
   * pending callback), and appends meanwhile go to the deleted file.
   */
  readonly directoryGone: (directory: string) => void
  /**
   * The lock was deleted (alone, or with the file or its directory), and another worker (`holder`) has taken it since:
   * the file is its journal now, and this worker writes none from then on.
   */
  readonly lockTaken: (holder: number) => void
  /**
   * `OUTBOX_FILE` now leads to another file (`now`: a link on its way re-pointed, a deploy's `current` flipped): the
   * journal stays where it was opened, which a worker started on the variable now would not read.
   */
  readonly pathMoved: (now: string) => void
}

const noNotices: JournalNotices = {
  notCompacted: () => undefined,
  recreated: () => undefined,
  directoryGone: () => undefined,
  lockTaken: () => undefined,
  pathMoved: () => undefined
}

/**
 * Open the journal: lock it, read what is left, rewrite the file with just that, and append from there. Failing to
 * lock or read it is an error (the operator asked for it); failing to rewrite it (a full disk) is not: the old file
 * is appended to. Failing to append later is `onWriteFailure`'s to report. While open, the file is rewritten with its
 * live lines once delivered ones make up most of it, and written again if it is deleted.
 */
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

export const openJournal = (
  configured: string,
  onWriteFailure: (reason: string) => void = () => undefined,
  notices: JournalNotices = noNotices,
  disk: JournalDisk = nodeJournalDisk
) =>
  Effect.try({
    try: (): JournalOpened => {
      const problem = journalPathProblem(configured)
      if (problem !== null) throw new Error(problem)
      // A symbolic link stays one: the compaction replaces the file it points at. The directory is taken as it is now:
      // a deploy that flips a linked directory (`current` → `releases/N`) had the lines go to one release's file, the
      // lock to both and the rewrites to the other (probe 54 #3).
      const file = inRealDirectory(followLinks(configured))
      const named = otherNamesProblem(file)
      if (named !== null) throw new Error(named)
      const lock = takeLock(file)
      try {
        removeStaleRewrites(file)
        const { left, skipped } = replay(file)
        /** The callbacks still pending, each with the length of its line. */
        const live = new Map<string, { readonly callback: JournalledCallback; readonly bytes: number }>()
        /** Bytes in the file, and how many of them are the live pending lines. */
        let size = 0
        let liveBytes = 0
        /** `callback` pending (in place of an earlier line for its session); returns its line. */
        const track = (callback: JournalledCallback): string => {
          const line = pendingLine(callback)
          const bytes = Buffer.byteLength(line)
          liveBytes += bytes - (live.get(callback.session_id)?.bytes ?? 0)
          live.set(callback.session_id, { callback, bytes })
          return line
        }
        for (const callback of left) track(callback)
        // A line failed since the file was last rewritten: it lacks a pending callback (sent nowhere after a crash or a
        // stop) or keeps a delivered one (sent twice). Rewritten with what is pending once it can be (probe 51 M1: a
        // disk that filled and was cleaned lost the callbacks closed meanwhile, even at a graceful stop).
        let behind = false
        // Rewritten when appends since the last rewrite pass this (a rewrite that failed waits for as many again).
        let compactAt = COMPACT_AFTER_BYTES
        /** Why a rewrite failed, said. */
        const sayNotRewritten = (error: unknown) => {
          const code = errnoOf(error)
          // The start checked the directory: missing now, it was deleted while the worker ran.
          const directory = dirname(file)
          if (code === "ENOENT" && !existsSync(directory)) notices.directoryGone(directory)
          else notices.notCompacted(code ?? (error instanceof Error ? error.message : String(error)))
        }
        /** The rewrite under way off the main thread, if any (`rewriteInBackground`). */
        let rewriting: BackgroundRewrite | null = null
        const endRewrite = (job: BackgroundRewrite) => {
          if (rewriting === job) rewriting = null
          for (const settle of job.waiters.splice(0)) settle()
        }
        /** A rewrite on the main thread replaces the one under way, as does the loss of the file or the close. */
        const cancelRewrite = () => {
          const job = rewriting
          if (job === null) return
          job.cancelled = true
          unlinkQuietly(job.fresh)
          endRewrite(job)
        }
        /** Tried again once as many bytes more are appended; a catch-up's next try held back. */
        const notRewritten = (error: unknown) => {
          compactAt = size + COMPACT_AFTER_BYTES
          if (behind) backOff()
          sayNotRewritten(error)
        }
        const giveUpStalledRewrite = () => {
          cancelRewrite()
          notRewritten(new Error(`a rewrite waited on the disk while more than ${MAX_REWRITE_TAIL_CHARS / (1024 * 1024)} MiB were journalled: given up`))
        }
        const compact = (): boolean => {
          cancelRewrite()
          try {
            size = rewrite(file, Array.from(live.values(), (entry) => entry.callback), disk)
            compactAt = size + COMPACT_AFTER_BYTES
            // Every pending line is in the new file, whatever failed before.
            behind = false
            return true
          } catch (error) {
            compactAt = size + COMPACT_AFTER_BYTES
            sayNotRewritten(error)
            return false
          }
        }
        const compacted = compact()
        if (!compacted) size = statSync(file, { throwIfNoEntry: false })?.size ?? 0
        let fd = openForAppend(file)
        // One fsync in flight at most (on `syncing`); lines written meanwhile are covered by one more after it. A
        // descriptor given up (a rewrite, the close) while its fsync runs is closed when that fsync returns: closed at
        // once, its number could go to a socket before the fsync ran, which would then fail, or sync the wrong file.
        let syncing: number | null = null
        let syncAgain = false
        let closeWhenSynced = false
        let closed = false
        // Set when another worker took the lock after ours was deleted: the path is its journal from then on, and this
        // worker writes none (appends to a file it no longer has would only fill the disk).
        let stopped = false
        const retire = (old: number) => {
          if (old === syncing) closeWhenSynced = true
          else closeSync(old)
        }
        const sync = () => {
          if (syncing !== null) return void (syncAgain = true)
          const target = fd
          syncing = target
          disk.fsync(target, (error) => {
            syncing = null
            if (closeWhenSynced) {
              closeWhenSynced = false
              closeQuietly(target)
            } else if (error !== null) {
              onWriteFailure(error.code ?? error.message)
            }
            // After a rewrite the lines are in the new file, synced by the rewrite; later ones still need this.
            if (syncAgain && !closed && !stopped) {
              syncAgain = false
              sync()
            }
          })
        }
        /** Append to the file now at the path (after a rewrite); on failure the old descriptor stays, and it is said. */
        const reopen = () => {
          try {
            const next = openForAppend(file)
            retire(fd)
            fd = next
          } catch (error) {
            onWriteFailure(errnoOf(error) ?? String(error))
          }
        }
        // After a failed write the file may end in part of a line: the next line starts on a line of its own. So may a
        // file kept as it was (its rewrite failed), which an earlier process may have been killed in the middle of
        // writing; a blank line where it was not torn costs nothing, as the replay skips blank lines.
        let torn = !compacted
        // Lines to let pass before the next try to catch up, after one failed: a disk with room for a line but not for
        // the whole file would otherwise be filled to the brim at every line (review 57 L4). Doubles to 1,024.
        let catchUpSkips = 0
        let catchUpWait = 0
        // Whether the lock was this worker's at the last line: a rewrite (which replaces the file) needs it.
        let locked = true
        /**
         * Callbacks pending in the file now at the path (another process's, left for the next start): kept in it. The
         * file may still be this worker's own (its lock was deleted, the file not), as large as its pending lines make
         * it: read whole, as at start. Only another file is bounded.
         */
        const keepLeftovers = () => {
          const own = isSameFile(fstatSync(fd), statSync(file, { throwIfNoEntry: false }))
          for (const callback of replay(file, own ? Number.POSITIVE_INFINITY : MAX_LEFTOVER_BYTES).left) if (!live.has(callback.session_id)) track(callback)
        }
        /**
         * Before each line: the lock still this worker's (made again if it was deleted and is free), and the file
         * written again if it was deleted. Whether to write the line: not once another worker holds the lock.
         */
        // Only a path through links can come to lead elsewhere while the file stays: one checked at each line.
        const viaLinks = resolve(configured) !== file
        /** Where `OUTBOX_FILE` led at the last line, when that was another file: said once each time it changes. */
        let movedTo: string | null = null
        const notePathMoved = (own: Stats) => {
          // One stat when the path still leads here (each line); the links are followed only when it does not. A release
          // flipped to holds no journal yet, as a rule: where the path leads counts, not what is there (review 60).
          const leadsTo = isSameFile(own, statOrUndefined(configured)) ? file : inRealDirectory(followLinks(configured))
          const now = leadsTo === file ? null : leadsTo
          if (now !== null && now !== movedTo) notices.pathMoved(now)
          movedTo = now
        }
        const keepJournal = (): boolean => {
          if (stopped) return false
          try {
            const own = fstatSync(fd)
            if (viaLinks) notePathMoved(own)
            const deleted = own.nlink === 0
            const retaken = !isOwnLock(lock)
            if (retaken) {
              locked = false
              try {
                takeLock(file)
              } catch (error) {
                if (error instanceof LockHeld) {
                  stopped = true
                  cancelRewrite()
                  retire(fd)
                  notices.lockTaken(error.holder)
                  return false
                }
                // Without its lock the file is not rewritten. A missing directory is said by the rewrite's attempt.
                if (deleted && errnoOf(error) === "ENOENT" && !existsSync(dirname(file))) compact()
                else notices.notCompacted(`its lock cannot be taken again: ${error instanceof Error ? error.message : String(error)}`)
                return true
              }
            }
            // Whoever held the lock meanwhile may have left lines in the file now at the path (appended to this very
            // file, or written one of its own): they are kept for the next start, not dropped by the next rewrite. One
            // under way holds none of them: renamed over that file, it would drop them (review 59 M2).
            if (retaken || deleted) {
              cancelRewrite()
              keepLeftovers()
            }
            locked = true
            if (!deleted || !compact()) return true
          } catch (error) {
            // The file at the path could not be read (or this one's state known): not rewritten over, for now.
            locked = false
            onWriteFailure(errnoOf(error) ?? (error instanceof Error ? error.message : String(error)))
            return true
          }
          reopen()
          torn = false
          notices.recreated(live.size)
          return true
        }
        /** Whether `line` was written. */
        const write = (line: string): boolean => {
          // Whether or not the file takes it, the rewrite under way ends with it.
          if (rewriting !== null) {
            rewriting.tail.push(line)
            rewriting.tailChars += line.length
            if (rewriting.tailChars > MAX_REWRITE_TAIL_CHARS) giveUpStalledRewrite()
          }
          try {
            size += writeAll(fd, (torn ? "\n" : "") + line)
            torn = false
          } catch (error) {
            torn = true
            behind = true
            onWriteFailure(errnoOf(error) ?? String(error))
            return false
          }
          sync()
          return true
        }
        const backOff = () => {
          catchUpWait = Math.min(Math.max(1, 2 * catchUpWait), 1024)
          catchUpSkips = catchUpWait
        }
        /** The rewritten file put in place of the journal: appends go to it from now on. */
        const rewritten = (bytes: number) => {
          size = bytes
          compactAt = size + COMPACT_AFTER_BYTES
          // Every pending line is in the new file, whatever failed before.
          behind = false
          catchUpWait = 0
          reopen()
          torn = false
        }
        /**
         * Rewrite the file with what is pending now, on the thread pool a slice at a time, and the lines journalled
         * meanwhile (`tail`) at its end; put in place on the main thread once synced, as `rewrite` does. Given up if
         * the lock or the file was lost meanwhile (the next line's check sees to those).
         */
        const rewriteInBackground = () => {
          if (rewriting !== null) return
          const fresh = freshNameOf(file)
          let target: number
          try {
            target = disk.createFresh(fresh)
          } catch (error) {
            return notRewritten(error)
          }
          const job: BackgroundRewrite = { fresh, tail: [], tailChars: 0, cancelled: false, waiters: [] }
          rewriting = job
          const failed = (error: unknown) => {
            unlinkQuietly(fresh)
            endRewrite(job)
            notRewritten(error)
          }
          const snapshot = Array.from(live.values(), (entry) => entry.callback)
          let next = 0
          let bytes = 0
          /** The bytes the last fsync of the new file covered, and how many were made. */
          let syncedBytes = 0
          let syncs = 0
          const putInPlace = () => {
            // The lock or the file lost meanwhile: the next line's check sees to those, and this file is not put in place.
            const superseded = stopped || closed || !isOwnLock(lock) || !isLinked(fd)
            let problem: unknown = null
            try {
              // The last of the tail (a slice or one line at most), written in the turn that puts the file in place: no
              // line can fall between the two. Synced with the lines that follow (`sync`), as any appended line is.
              if (!superseded) for (const line of job.tail) bytes += writeAll(target, line)
            } catch (error) {
              problem = error
            }
            try {
              closeSync(target)
            } catch (error) {
              problem ??= error
            }
            if (superseded) return void (unlinkQuietly(fresh), endRewrite(job))
            if (problem === null) {
              try {
                disk.rename(fresh, file)
              } catch (error) {
                problem = error
              }
            }
            if (problem !== null) return failed(problem)
            endRewrite(job)
            rewritten(bytes)
            sync()
          }
          /** Lines from `more` (undefined when none is left), a slice's worth, written on the thread pool; then `step`. */
          const writeSlice = (more: () => string | undefined) => {
            let slice = ""
            while (slice.length < REWRITE_SLICE_CHARS) {
              const line = more()
              if (line === undefined) break
              slice += line
            }
            const data = Buffer.from(slice)
            bytes += data.length
            writeWhole(disk, target, data, step)
          }
          const fromSnapshot = () => (next < snapshot.length ? pendingLine(snapshot[next++]!) : undefined)
          const fromTail = () => {
            const line = job.tail.shift()
            if (line !== undefined) job.tailChars -= line.length
            return line
          }
          // Each step runs when the thread pool is done with the one before: a cancelled job closes its descriptor only then.
          const step = (error: NodeJS.ErrnoException | null) => {
            if (job.cancelled || error !== null) {
              closeQuietly(target)
              return job.cancelled ? undefined : failed(error)
            }
            if (next < snapshot.length) return writeSlice(fromSnapshot)
            // What was journalled meanwhile goes the same way while more than a line and a slice of it wait (1 MiB lines
            // coming in during a 64 MB rewrite had made a tail of tens of MB, written in one turn at the end).
            if (job.tail.length > 1 && job.tailChars > REWRITE_SLICE_CHARS) return writeSlice(fromTail)
            // Synced before it replaces a file whose lines were synced (review 59 M1), again while a tail came during the
            // last sync, a few times at most: what comes during the last is written with the rename, and synced by `sync`
            // after it, as any new line is.
            if (syncedBytes < bytes && syncs < MAX_REWRITE_SYNCS) {
              const covering = bytes
              syncs++
              return disk.fsync(target, (syncError) => {
                syncedBytes = covering
                step(syncError)
              })
            }
            putInPlace()
          }
          step(null)
        }
        /** `lastChance`: the stop's, which no back-off holds back, and which rewrites on the main thread. */
        const catchUp = (lastChance: boolean): boolean => {
          if (!behind) return true
          if (!lastChance) {
            // One under way makes the file whole when it ends.
            if (rewriting !== null) return false
            if (catchUpSkips > 0) {
              catchUpSkips--
              return false
            }
          }
          if (!locked || stopped || closed) {
            backOff()
            return false
          }
          if (!lastChance) {
            rewriteInBackground()
            return false
          }
          if (!compact()) {
            backOff()
            return false
          }
          rewritten(size)
          return true
        }
        // The lock was checked before the line: without it, another worker's journal may be at the path.
        const compactIfMostlyDelivered = () => {
          if (locked && size > compactAt && size > 2 * liveBytes) rewriteInBackground()
        }
        const journal: OutboxJournal = {
          pending: (callback) => {
            if (!keepJournal()) return false
            catchUp(false)
            const written = write(track(callback))
            compactIfMostlyDelivered()
            return written
          },
          done: (sessionId) => {
            if (!keepJournal()) return
            catchUp(false)
            liveBytes -= live.get(sessionId)?.bytes ?? 0
            live.delete(sessionId)
            write(JSON.stringify({ op: "done", session_id: sessionId }) + "\n")
            compactIfMostlyDelivered()
          },
          // Only when behind: a file an operator deleted is not made again for nothing (review 57 I10).
          catchUp: () => !behind || (keepJournal() && catchUp(true)),
          whenRewritten: () => (rewriting === null ? Promise.resolve() : new Promise((settle) => rewriting?.waiters.push(settle))),
          close: () => {
            cancelRewrite()
            if (behind && keepJournal()) catchUp(true)
            closed = true
            if (!stopped) {
              try {
                disk.fsyncSync(fd)
              } catch {
                // Every line is written; only its safety from a power cut is lost, and nothing is left to tell.
              }
              retire(fd)
            }
            releaseLock(lock)
          }
        }
        return { journal, left, skipped, file }
      } catch (error) {
        releaseLock(lock)
        throw error
      }
    },
    catch: (error) =>
      new JournalUnavailable({
        file: configured,
        reason: error instanceof Error ? error.message : String(error),
        lockHolder: error instanceof LockHeld ? error.holder : null
      })
  })

/** A rewrite of the journal under way while the worker runs. */
interface BackgroundRewrite {
  /** Its temporary file, renamed over the journal once whole. */
  readonly fresh: string
  /** The lines journalled since it took what was pending, not yet written to it: the new file ends with them. */
  readonly tail: Array<string>
  tailChars: number
  /** Replaced or given up: its file is removed at once, its descriptor once the thread pool is done with it. */
  cancelled: boolean
  /** `whenRewritten`'s callers. */
  readonly waiters: Array<() => void>
}

/** All of `data` written through `disk.write` (a nearly full disk writes part of it, and fails only on the next call). */
const writeWhole = (disk: JournalDisk, fd: number, data: Uint8Array, done: (error: NodeJS.ErrnoException | null) => void): void =>
  disk.write(fd, data, (error, written) => {
    if (error !== null) return done(error)
    if (written === 0) return done(Object.assign(new Error("the disk took none of a rewrite's bytes"), { code: "EIO" }))
    if (written < data.length) return writeWhole(disk, fd, data.subarray(written), done)
    done(null)
  })

/** `file` in its directory's real path (links on the way followed); as it is if that cannot be known. */
const inRealDirectory = (file: string): string => {
  try {
    return join(realpathSync(dirname(file)), basename(file))
  } catch {
    return file
  }
}

/** The file a chain of symbolic links ends at, whether or not it exists yet (a journal not written so far). */
export const followLinks = (file: string): string => {
  let current = file
  for (let hop = 0; hop < 16; hop++) {
    try {
      if (!lstatSync(current).isSymbolicLink()) return current
    } catch {
      return current
    }
    current = resolve(dirname(current), readlinkSync(current))
  }
  return current
}

/** Whether the file open at `fd` still has a name (it was not deleted). */
const isLinked = (fd: number): boolean => {
  try {
    return fstatSync(fd).nlink > 0
  } catch {
    return false
  }
}

const closeQuietly = (fd: number) => {
  try {
    closeSync(fd)
  } catch {
    // Already closed: nothing to release.
  }
}

const unlinkQuietly = (file: string) => {
  try {
    unlinkSync(file)
  } catch {
    // Already gone: nothing to release.
  }
}

export class JournalUnavailable extends Schema.TaggedError<JournalUnavailable>()("JournalUnavailable", {
  file: Schema.String,
  reason: Schema.String,
  /** The live process holding the journal's lock, when that is why (a predecessor still stopping may let it go). */
  lockHolder: Schema.NullOr(Schema.Int)
}) {
  override get message(): string {
    return `OUTBOX_FILE ${this.file} cannot be used: ${this.reason}`
  }
}
