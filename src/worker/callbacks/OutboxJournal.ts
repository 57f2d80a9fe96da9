/**
 * `OUTBOX_FILE`: pending callbacks journalled as append-only JSON lines, each write fsync'd, so that a
 * `kill -9` or an out-of-memory kill does not lose them: the next process on the instance replays every
 * callback that has a `pending` line and no `done` line, then compacts the file to those.
 *
 * Lines: `{"op":"pending","callback":{…}}` and `{"op":"done","session_id":"…"}`. A torn last line (the
 * process died mid-write) is skipped. The cost is one synchronous `write` + `fsync` per close and per
 * delivery, paid only when the variable is set.
 *
 * A write that fails once the journal is open (a full disk, an I/O error) never reaches the caller: the outbox goes
 * on delivering from memory, and `onWriteFailure` hears why. Only the crash-safety of that callback is lost.
 */
import { accessSync, closeSync, constants, fsyncSync, lstatSync, openSync, readlinkSync, readSync, renameSync, type Stats, statSync, unlinkSync, writeSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { Effect, Either, Schema } from "effect"
import { CloseReason } from "../../protocol/callback.js"
import { errnoOf } from "../../shared/errno.js"

export const JournalledCallback = Schema.Struct({
  session_id: Schema.String,
  generation: Schema.Int,
  route: Schema.String,
  body: Schema.String,
  reason: CloseReason
})
export type JournalledCallback = typeof JournalledCallback.Type

const JournalLine = Schema.Union(
  Schema.Struct({ op: Schema.Literal("pending"), callback: JournalledCallback }),
  Schema.Struct({ op: Schema.Literal("done"), session_id: Schema.String })
)
const decodeLine = Schema.decodeUnknownEither(Schema.parseJson(JournalLine))

export interface OutboxJournal {
  /** Record a callback before its first attempt. Never throws. */
  readonly pending: (callback: JournalledCallback) => void
  /** Record that a callback was delivered or given up for good. Never throws. */
  readonly done: (sessionId: string) => void
  readonly close: () => void
}

/** What opening the journal found. */
export interface JournalOpened {
  readonly journal: OutboxJournal
  /** The callbacks a previous process left pending, in the order they were queued. */
  readonly left: ReadonlyArray<JournalledCallback>
  /** Lines that were not a journal line (torn, damaged, too long): dropped by the compaction. */
  readonly skipped: number
}

/** The longest line replayed: a callback body is at most 1 MiB, and JSON escaping can make it six times as long. */
const MAX_LINE_BYTES = 8 * 1024 * 1024
const READ_CHUNK_BYTES = 1024 * 1024

const kindOf = (stats: Stats): string => (stats.isDirectory() ? "a directory" : stats.isFIFO() ? "a FIFO" : "a device or another special file")

/**
 * Why `file` cannot be the journal, or null: it must be a regular file (a FIFO would block the start, a device never
 * ends) that can be read and written, or not exist yet in a directory that exists and can be written. Checked when
 * the configuration is read, so that a mistake is a launch failure naming `OUTBOX_FILE`.
 */
export const journalPathProblem = (configured: string): string | null => {
  const file = followLinks(configured)
  try {
    const stats = statSync(file)
    if (!stats.isFile()) return `${file} is ${kindOf(stats)}, not a regular file`
    accessSync(file, constants.R_OK | constants.W_OK)
    return null
  } catch (error) {
    const code = errnoOf(error)
    if (code !== "ENOENT") return `${file} cannot be used (${code ?? String(error)})`
  }
  // The file does not exist, so its directory does, or is missing (a parent that is a file failed above: ENOTDIR).
  const directory = dirname(file)
  try {
    accessSync(directory, constants.W_OK)
    return null
  } catch (error) {
    const code = errnoOf(error)
    return code === "ENOENT" ? `its directory ${directory} does not exist` : `its directory ${directory} cannot be written (${code ?? String(error)})`
  }
}

/** Each line of `fd`, read a chunk at a time: memory holds one line, never the whole file. Longer lines are `null`. */
const forEachLine = (fd: number, visit: (line: string | null) => void) => {
  const chunk = Buffer.alloc(READ_CHUNK_BYTES)
  let parts: Array<Buffer> = []
  let length = 0
  let tooLong = false
  const flush = () => {
    if (tooLong) visit(null)
    else if (length > 0) visit(Buffer.concat(parts, length).toString("utf8"))
    parts = []
    length = 0
    tooLong = false
  }
  for (let read = readSync(fd, chunk, 0, chunk.length, null); read > 0; read = readSync(fd, chunk, 0, chunk.length, null)) {
    let from = 0
    for (let newline = chunk.indexOf(10, from); newline !== -1 && newline < read; newline = chunk.indexOf(10, from)) {
      if (!tooLong) parts.push(Buffer.from(chunk.subarray(from, newline)))
      length += newline - from
      if (length > MAX_LINE_BYTES) tooLong = true
      flush()
      from = newline + 1
    }
    length += read - from
    if (length > MAX_LINE_BYTES) tooLong = true
    if (!tooLong && read > from) parts.push(Buffer.from(chunk.subarray(from, read)))
  }
  flush()
}

/** The callbacks left pending in `file`, and how many lines were not journal lines. */
const replay = (file: string): { readonly left: ReadonlyArray<JournalledCallback>; readonly skipped: number } => {
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
    forEachLine(fd, (line) => {
      if (line !== null && line.trim() === "") return
      const decoded = line === null ? null : decodeLine(line)
      if (decoded === null || Either.isLeft(decoded)) return void skipped++
      const entry = decoded.right
      if (entry.op === "pending") pending.set(entry.callback.session_id, entry.callback)
      else pending.delete(entry.session_id)
    })
  } finally {
    closeSync(fd)
  }
  return { left: [...pending.values()], skipped }
}

/** Write all of `text` (a nearly full disk writes part of it and fails only on the next call). */
const writeAll = (fd: number, text: string) => {
  const bytes = Buffer.from(text)
  for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written, bytes.length - written)
}

/** `file.lock`, holding this process's pid: a second worker on the same journal would replay and compact it under us. */
const takeLock = (file: string): string => {
  const lock = `${file}.lock`
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, "wx")
      writeAll(fd, `${process.pid}\n`)
      closeSync(fd)
      return lock
    } catch (error) {
      if (errnoOf(error) !== "EEXIST") throw error
    }
    const holder = Number.parseInt(readHead(lock, 32), 10)
    if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new Error(`it is in use by process ${holder} (${lock})`)
    }
    // A lock left by a process that is gone (kill -9): taken over.
    unlinkSync(lock)
  }
  throw new Error(`${lock} could not be taken`)
}

/** The first `bytes` of `file`, opened so that a FIFO put in its place cannot block the start. */
const readHead = (file: string, bytes: number): string => {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const head = Buffer.alloc(bytes)
    return head.subarray(0, readSync(fd, head, 0, bytes, null)).toString("utf8")
  } catch {
    return ""
  } finally {
    closeSync(fd)
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errnoOf(error) === "EPERM"
  }
}

/**
 * Open the journal: lock it, read what is left, rewrite the file with just that, and append from there. Failing to
 * open it is an error (the operator asked for it); failing to append later is `onWriteFailure`'s to report.
 */
export const openJournal = (configured: string, onWriteFailure: (reason: string) => void = () => undefined) =>
  Effect.try({
    try: (): JournalOpened => {
      const problem = journalPathProblem(configured)
      if (problem !== null) throw new Error(problem)
      // A symbolic link stays one: the compaction replaces the file it points at.
      const file = followLinks(configured)
      const lock = takeLock(file)
      try {
        const { left, skipped } = replay(file)
        const fresh = `${file}.${process.pid}.tmp`
        const tmp = openSync(fresh, "w")
        for (const callback of left) writeAll(tmp, JSON.stringify({ op: "pending", callback }) + "\n")
        fsyncSync(tmp)
        closeSync(tmp)
        renameSync(fresh, file)
        const fd = openSync(file, "a")
        // After a failed write the file may end in part of a line: the next line starts on a line of its own.
        let torn = false
        const append = (value: unknown) => {
          try {
            writeAll(fd, (torn ? "\n" : "") + JSON.stringify(value) + "\n")
            torn = false
            fsyncSync(fd)
          } catch (error) {
            torn = true
            onWriteFailure(errnoOf(error) ?? String(error))
          }
        }
        const journal: OutboxJournal = {
          pending: (callback) => append({ op: "pending", callback }),
          done: (sessionId) => append({ op: "done", session_id: sessionId }),
          close: () => {
            closeSync(fd)
            unlinkQuietly(lock)
          }
        }
        return { journal, left, skipped }
      } catch (error) {
        unlinkQuietly(lock)
        throw error
      }
    },
    catch: (error) => new JournalUnavailable({ file: configured, reason: error instanceof Error ? error.message : String(error) })
  })

/** The file a chain of symbolic links ends at, whether or not it exists yet (a journal not written so far). */
const followLinks = (file: string): string => {
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

const unlinkQuietly = (file: string) => {
  try {
    unlinkSync(file)
  } catch {
    // Already gone: nothing to release.
  }
}

export class JournalUnavailable extends Schema.TaggedError<JournalUnavailable>()("JournalUnavailable", {
  file: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `OUTBOX_FILE ${this.file} cannot be used: ${this.reason}`
  }
}
