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
 * MiB, so it stays within about twice what is pending (`rewrite.ts`); it is created owner-only, since it holds
 * callback URLs whole. Opened once through `OUTBOX_FILE`'s links, it stays in that directory; deleted with it while the
 * variable leads to another (a deploy's `current` flipped, the old release removed), it moves there. Its parts: the
 * lines (`journalLine.ts`), the replay (`replay.ts`), the path (`journalPath.ts`), the lock (`journalLock.ts`) and the
 * disk calls (`journalDisk.ts`).
 */
import { closeSync, existsSync, fstatSync, statSync } from "node:fs"
import type { Stats } from "node:fs"
import { dirname, resolve } from "node:path"
import { Effect, Schema } from "effect"
import { errnoOf } from "../../../shared/errno.js"
import { isSameFile, statOrUndefined } from "../../../shared/fileStats.js"
import { writeAll } from "../../../shared/writeAll.js"
import { closeQuietly, isLinked, type JournalDisk, nodeJournalDisk, openForAppend } from "./journalDisk.js"
import { doneLine, type JournalledCallback, pendingLine } from "./journalLine.js"
import { isOwnLock, LockHeld, releaseLock, takeLock } from "./journalLock.js"
import { followLinks, inRealDirectory, journalPathProblem, otherNamesProblem } from "./journalPath.js"
import { replay, MAX_LEFTOVER_BYTES } from "./replay.js"
import { MAX_REWRITE_TAIL_BYTES, prepareRewrite, removeStaleRewrites, rewrite, type RewriteUnderWay } from "./rewrite.js"

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
   * Where the journal is written: `OUTBOX_FILE` with its links followed and its directory's real path, taken at open,
   * so that a link re-pointed later moves neither the file nor its lock (probe 54 #3), unless that directory is then
   * deleted (`relocated` says where it went).
   */
  readonly file: string
}

/** Appended bytes past which the journal is rewritten with its live lines, once they are at most half of it. */
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024

/** What the journal tells its user besides failed writes: each is said once per event, and never thrown. */
export interface JournalNotices {
  /** The file could not be rewritten (at start, or to shed delivered lines): it keeps growing until it can. */
  readonly notCompacted: (cause: string) => void
  /** The file was deleted while open: it was written again with the callbacks still pending. */
  readonly recreated: (pending: number) => void
  /**
   * The file was deleted with its directory: it cannot be written again until the directory exists (tried at each new
   * pending callback), and appends meanwhile go to the deleted file. (When `OUTBOX_FILE` leads elsewhere by then, the
   * journal moves there instead: `relocated`, or `notRelocated`.)
   */
  readonly directoryGone: (directory: string) => void
  /**
   * The lock was deleted (alone, or with the file or its directory), and another worker (`holder`) has taken it since:
   * the file is its journal now, and this worker writes none from then on.
   */
  readonly lockTaken: (holder: number) => void
  /**
   * `OUTBOX_FILE` now leads to another file (`now`: a link on its way re-pointed, a deploy's `current` flipped): the
   * journal stays where it was opened, which a worker started on the variable now would not read, until its directory
   * is deleted (then it moves: `relocated`).
   */
  readonly pathMoved: (now: string) => void
  /**
   * The journal's directory was deleted while `OUTBOX_FILE` led to another file (`now`): the journal is there from
   * then on, lock and all, written with the callbacks still pending.
   */
  readonly relocated: (now: string, pending: number) => void
  /**
   * The journal's directory was deleted while `OUTBOX_FILE` led to another file (`now`), where it cannot go (`why`):
   * it stays as it was (tried again at each line), or (`journalsNoMore`), when another worker holds the journal there,
   * this worker journals no more (said once).
   */
  readonly notRelocated: (now: string, why: string, journalsNoMore: boolean) => void
}

const noNotices: JournalNotices = {
  notCompacted: () => undefined,
  recreated: () => undefined,
  directoryGone: () => undefined,
  lockTaken: () => undefined,
  pathMoved: () => undefined,
  relocated: () => undefined,
  notRelocated: () => undefined
}

/**
 * Open the journal: lock it, read what is left, rewrite the file with just that, and append from there. Failing to
 * lock or read it is an error (the operator asked for it); failing to rewrite it (a full disk) is not: the old file
 * is appended to. Failing to append later is `onWriteFailure`'s to report. While open, the file is rewritten with its
 * live lines once delivered ones make up most of it, and written again if it is deleted.
 */
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
      let file = inRealDirectory(followLinks(configured))
      const named = otherNamesProblem(file)
      if (named !== null) throw new Error(named)
      let lock = takeLock(file)
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
        let rewriting: RewriteUnderWay | null = null
        /** The last rewrite given up while a disk call of it was out: none starts until that call returns. */
        let stalled: RewriteUnderWay | null = null
        /**
         * A rewrite on the main thread replaces the one under way, as does the loss of the file or the close. One whose
         * disk call is out still holds a thread of the pool until it returns, whatever gave it up (review 62 #6).
         */
        const cancelRewrite = () => {
          if (rewriting?.onDisk() === true) stalled = rewriting
          rewriting?.cancel()
          rewriting = null
        }
        /** Tried again once as many bytes more are appended; a catch-up's next try held back. */
        const notRewritten = (error: unknown) => {
          compactAt = size + COMPACT_AFTER_BYTES
          if (behind) backOff()
          sayNotRewritten(error)
        }
        const giveUpStalledRewrite = () => {
          cancelRewrite()
          notRewritten(new Error(`a rewrite waited on the disk while more than ${MAX_REWRITE_TAIL_BYTES / (1024 * 1024)} MiB were journalled: given up`))
        }
        // One fsync in flight at most (on `syncing`); lines written meanwhile are covered by one more after it. A
        // descriptor given up (a rewrite, the close) while its fsync runs is closed when that fsync returns: closed at
        // once, its number could go to a socket before the fsync ran, which would then fail, or sync the wrong file.
        let syncing: number | null = null
        /**
         * Whether a disk call of the journal is out: its own fsync, or a rewrite's (under way or given up). That disk is
         * slow or stuck, and no fsync is made on the main thread then (probe 57 #3, review 63 #4, review 65 #4): every
         * line is written, and only the last ones' safety from a power cut is left to the kernel.
         */
        const diskCallOut = () => syncing !== null || rewriting?.onDisk() === true || stalled?.onDisk() === true
        const compact = (): boolean => {
          cancelRewrite()
          try {
            size = rewrite(file, Array.from(live.values(), (entry) => entry.callback), disk, !diskCallOut())
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
        let viaLinks = resolve(configured) !== file
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
        /** Another worker holds the lock (`say` tells how): the file is its journal, and this worker writes none from now on. */
        const standDown = (say: () => void): false => {
          stopped = true
          cancelRewrite()
          retire(fd)
          say()
          return false
        }
        /**
         * The journal's directory deleted while `OUTBOX_FILE` leads to another one (a deploy flipped `current`, then
         * removed the old release): the journal, lock and all, goes where the path leads now, where a worker started on
         * it would look (review 60: it had stayed in the deleted directory, kept nowhere). `to` gets the checks the
         * open makes, and what another process left there is read, before anything changes: a move that cannot be made
         * leaves the journal as it was, said (review 61 #5: a file there that could not be read had left the lock
         * moved and the lines not). Whether to write the line.
         */
        const relocate = (to: string): boolean => {
          // The configured path's chain judged whole: `to`, still a link past the kernel's 40, would have had a link in
          // the middle of it replaced by the journal (review 62 #2).
          let problem = journalPathProblem(configured) ?? otherNamesProblem(to)
          let taken: string | null = null
          let leftovers: ReadonlyArray<JournalledCallback> = []
          if (problem === null) {
            try {
              taken = takeLock(to)
              leftovers = replay(to, MAX_LEFTOVER_BYTES).left
            } catch (error) {
              if (error instanceof LockHeld) return standDown(() => notices.notRelocated(to, `another worker (pid ${error.holder}) holds the journal there, and this worker journals no more`, true))
              if (taken !== null) releaseLock(taken)
              problem = error instanceof Error ? error.message : String(error)
            }
          }
          if (problem !== null || taken === null) {
            notices.notRelocated(to, problem ?? "its lock could not be taken", false)
            return true
          }
          file = to
          lock = taken
          viaLinks = resolve(configured) !== file
          movedTo = null
          locked = true
          cancelRewrite()
          for (const callback of leftovers) if (!live.has(callback.session_id)) track(callback)
          if (compact()) {
            catchUpWait = 0
            catchUpSkips = 0
          } else {
            // Not written whole (a full disk): appended to as it is, and the pending lines added once it can be.
            behind = true
            size = statSync(file, { throwIfNoEntry: false })?.size ?? 0
          }
          reopen()
          torn = behind
          notices.relocated(file, live.size)
          return true
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
                if (error instanceof LockHeld) return standDown(() => notices.lockTaken(error.holder))
                // Without its lock the file is not rewritten. A missing directory is said by the rewrite's attempt.
                if (deleted && errnoOf(error) === "ENOENT" && !existsSync(dirname(file))) {
                  if (movedTo !== null && existsSync(dirname(movedTo))) return relocate(movedTo)
                  compact()
                } else notices.notCompacted(`its lock cannot be taken again: ${error instanceof Error ? error.message : String(error)}`)
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
          if (rewriting !== null && rewriting.add(line) > MAX_REWRITE_TAIL_BYTES) giveUpStalledRewrite()
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
        /** Rewrite the file with what is pending now, off the main thread (`prepareRewrite`), if none is under way. */
        const rewriteInBackground = () => {
          // A disk call that has not returned holds a thread of the pool, which DNS lookups share: on a hung disk each
          // rewrite given up had held one more, until none was left for the callbacks' lookups (review 61 #4).
          if (rewriting !== null || stalled?.onDisk() === true) return
          let job: RewriteUnderWay
          try {
            job = prepareRewrite(file, Array.from(live.values(), (entry) => entry.callback), disk, {
              // The lock or the file lost meanwhile: the next line's check sees to those, and this file is not put in place.
              superseded: () => stopped || closed || !isOwnLock(lock) || !isLinked(fd),
              placed: (bytes) => {
                rewriting = null
                rewritten(bytes)
                sync()
              },
              failed: (error) => {
                rewriting = null
                notRewritten(error)
              },
              dropped: () => void (rewriting = null)
            })
          } catch (error) {
            return notRewritten(error)
          }
          job.begin()
          // One with nothing to write ends in its first step.
          if (job.underWay()) rewriting = job
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
            write(doneLine(sessionId))
            compactIfMostlyDelivered()
          },
          // Only when behind: a file an operator deleted is not made again for nothing (review 57 I10). Or when the
          // journal's directory is gone with callbacks pending: it moves where the variable leads now, if it can, though
          // no line came since (review 61 #2: an idle worker stopped after a deploy's flip kept them nowhere).
          catchUp: () => {
            const directoryGone = live.size > 0 && !stopped && !existsSync(dirname(file))
            return (!behind && !directoryGone) || (keepJournal() && catchUp(true))
          },
          whenRewritten: () => rewriting?.whenEnded() ?? Promise.resolve(),
          close: () => {
            cancelRewrite()
            if (behind && keepJournal()) catchUp(true)
            closed = true
            if (!stopped) {
              // Not while a disk call is out: one more on the main thread held the stop, exit marker and all, for as
              // long as it took (probe 57 #3: 20 s and 40 s for fsyncs delayed so).
              if (!diskCallOut()) {
                try {
                  disk.fsyncSync(fd)
                } catch {
                  // The same loss, and nothing is left to tell.
                }
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
