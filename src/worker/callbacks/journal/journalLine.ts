/**
 * The journal's lines: `{"op":"pending","callback":{…}}` when a callback is queued, `{"op":"done","session_id":"…"}` once
 * it is delivered or given up.
 */
import { Schema } from "effect"
import { CloseReason } from "../../../protocol/callback.js"
import { SESSION_ID_MAX_LENGTH } from "../../../protocol/SessionId.js"
import { parseBoundedJsonWith } from "../../../shared/boundedJson.js"

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
export const decodeLine = Schema.decodeUnknownEither(parseBoundedJsonWith(JournalLine))

export const pendingLine = (callback: JournalledCallback): string => JSON.stringify({ op: "pending", callback }) + "\n"

export const doneLine = (sessionId: string): string => JSON.stringify({ op: "done", session_id: sessionId }) + "\n"
