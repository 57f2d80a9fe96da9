/**
 * The public worker routes' bodies (vast-protocol.md §2), as Schemas: what the worker decodes, what the
 * client sends and reads back, and what tests decode replies with. Field names are the protocol's.
 */
import { Schema } from "effect"
import { AuthData, AuthDataFields } from "./authData.js"
import { HttpUrl } from "./httpUrl.js"

/** The longest lifetime a session may ask for: 7 days. */
export const MAX_LIFETIME_SECONDS = 7 * 24 * 60 * 60
/** The framework's default lifetime when `payload.lifetime` is absent. */
export const DEFAULT_LIFETIME_SECONDS = 60

export const Lifetime = Schema.Number.pipe(
  Schema.filter((seconds) => Number.isFinite(seconds) && seconds > 0 && seconds <= MAX_LIFETIME_SECONDS, {
    message: () => `must be a number of seconds above 0 and at most ${MAX_LIFETIME_SECONDS}`
  })
)

export const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  message: () => "must be a JSON object"
})

export const CreatePayload = Schema.Struct({
  lifetime: Schema.optional(Schema.NullOr(Lifetime)),
  on_close_route: Schema.optional(Schema.NullOr(HttpUrl)),
  on_close_payload: Schema.optional(Schema.Unknown)
})

/** `POST /session/create`. The SDK sends `session_id: null` and null payload keys; both are fine. */
export const CreateSessionBody = Schema.Struct({
  auth_data: AuthDataFields,
  payload: Schema.optional(Schema.NullOr(CreatePayload)),
  session_id: Schema.optional(Schema.NullOr(Schema.String))
})
export type CreateSessionBody = typeof CreateSessionBody.Type

/**
 * `201` from `/session/create`. `generation` is ours (a fencing number, strictly increasing per worker
 * process); the SDK reads `session_id` and `expiration` and ignores other keys.
 */
export const CreateSessionAnswer = Schema.Struct({
  session_id: Schema.String.pipe(Schema.minLength(1)),
  expiration: Schema.Finite,
  generation: Schema.optional(Schema.Int)
})
export type CreateSessionAnswer = typeof CreateSessionAnswer.Type

/** `/session/end`, `/session/get`, `/session/health`: read loosely, so a missing id gets its own 422. */
export const SessionRefBody = Schema.Struct({
  session_id: Schema.optional(Schema.Unknown),
  session_auth: Schema.optional(Schema.Unknown)
})

/** `/session/end` and `/session/get` as a client sends them: the session's `auth_data` is its secret. */
export const SessionRefRequest = Schema.Struct({
  session_id: Schema.String,
  session_auth: AuthData
})

/** `/session/create` as a client sends it (the SDK's shape: null keys included). */
export const CreateSessionRequest = Schema.Struct({
  auth_data: AuthData,
  payload: Schema.Struct({
    lifetime: Schema.Number,
    on_close_route: Schema.NullOr(Schema.String),
    on_close_payload: Schema.Unknown
  }),
  session_id: Schema.Null
})

/** A handler call inside the session (the null worker's `/ping`), as a client sends it. */
export const PingRequest = Schema.Struct({
  auth_data: AuthData,
  payload: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  session_id: Schema.String
})

/**
 * What a client reads from any worker's `/session/end` (ours or the Python framework's): the status is what
 * counts, the body is read when it is there.
 */
export const EndSessionReply = Schema.Struct({
  ended: Schema.optional(Schema.Boolean),
  removed_session: Schema.optional(Schema.String)
})

/** What a client reads from any worker's `/session/get`: the fields it uses. */
export const SessionInfoReply = Schema.Struct({
  session_id: Schema.String,
  lifetime: Schema.Number,
  expiration: Schema.Finite,
  created_at: Schema.optional(Schema.Number)
})
export type SessionInfoReply = typeof SessionInfoReply.Type

/** `200` from `/session/end`. */
export const EndSessionAnswer = Schema.Struct({
  ended: Schema.Boolean,
  removed_session: Schema.String
})

/** `200` from `/session/get` (timestamps in epoch seconds). */
export const SessionInfoAnswer = Schema.Struct({
  session_id: Schema.String,
  auth_data: Schema.Unknown,
  lifetime: Schema.Number,
  expiration: Schema.Finite,
  created_at: Schema.Number,
  on_close_route: Schema.NullOr(Schema.String),
  on_close_payload: Schema.Unknown
})
export type SessionInfoAnswer = typeof SessionInfoAnswer.Type

/** `200` from `/session/health`. */
export const SessionHealthAnswer = Schema.Struct({ ok: Schema.Boolean })

/** A handler request such as `/ping`: the framework requires `auth_data` and an object `payload`. */
export const HandlerRequestBody = Schema.Struct({
  auth_data: AuthDataFields,
  payload: JsonObject,
  session_id: Schema.optional(Schema.NullOr(Schema.String))
})
export type HandlerRequestBody = typeof HandlerRequestBody.Type

/**
 * `200` from `/ping`: the remote-function envelope `{"result": …}` the SDK reads, plus, inside a session,
 * the new deadline (`expiration`, epoch seconds), and `draining: true` while the worker drains.
 */
export const PingAnswer = Schema.Struct({
  result: Schema.Struct({ ok: Schema.Literal(true) }),
  expiration: Schema.optional(Schema.Finite),
  draining: Schema.optional(Schema.Literal(true))
})
export type PingAnswer = typeof PingAnswer.Type

/** Error answers the protocol fixes: `{"error": …}`, with the field named where one is at fault. */
export const ErrorAnswer = Schema.Struct({
  error: Schema.String,
  field: Schema.optional(Schema.String)
})

// The client imports these from here too.
export { AuthData, Cost, costOf } from "./authData.js"
export { HttpUrl } from "./httpUrl.js"
