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
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs"
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


/** The callbacks a previous process left pending, in the order they were queued. */
const replay = (file: string): ReadonlyArray<JournalledCallback> => {
  if (!existsSync(file)) return []
  const pending = new Map<string, JournalledCallback>()
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue
    const decoded = decodeLine(line)
    if (Either.isLeft(decoded)) continue
    const entry = decoded.right
    if (entry.op === "pending") pending.set(entry.callback.session_id, entry.callback)
    else pending.delete(entry.session_id)
  }
  return [...pending.values()]
}

const appendLine = (fd: number, value: unknown, onWriteFailure: (reason: string) => void) => {
  try {
    writeSync(fd, JSON.stringify(value) + "\n")
    fsyncSync(fd)
  } catch (error) {
    onWriteFailure(errnoOf(error) ?? String(error))
  }
}

/**
 * Open the journal: read what is left, rewrite the file with just that, and append from there. Failing to open it
 * is an error (the operator asked for it); failing to append later is `onWriteFailure`'s to report.
 */
export const openJournal = (file: string, onWriteFailure: (reason: string) => void = () => undefined) =>
  Effect.try({
    try: () => {
      const left = replay(file)
      const fresh = `${file}.tmp`
      const tmp = openSync(fresh, "w")
      for (const callback of left) writeSync(tmp, JSON.stringify({ op: "pending", callback }) + "\n")
      fsyncSync(tmp)
      closeSync(tmp)
      renameSync(fresh, file)
      const fd = openSync(file, "a")
      const journal: OutboxJournal = {
        pending: (callback) => appendLine(fd, { op: "pending", callback }, onWriteFailure),
        done: (sessionId) => appendLine(fd, { op: "done", session_id: sessionId }, onWriteFailure),
        close: () => closeSync(fd)
      }
      return { journal, left }
    },
    catch: (error) => new JournalUnavailable({ file, reason: error instanceof Error ? error.message : String(error) })
  })

export class JournalUnavailable extends Schema.TaggedError<JournalUnavailable>()("JournalUnavailable", {
  file: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `OUTBOX_FILE ${this.file} cannot be used: ${this.reason}`
  }
}
