/**
 * What the client sends to and reads from Vast's webserver, the autoscaler and the workers
 * (vast-protocol.md §8), as Schemas. Every answer is decoded with one of these before it is used.
 */
import { Schema } from "effect"
import { AuthData } from "../protocol/session.js"

/** One item of `GET /api/v0/endptjobs/`. Only these fields are used; the others are ignored. */
export const EndpointRecord = Schema.Struct({
  id: Schema.Number,
  endpoint_name: Schema.String,
  /** The endpoint's own key, sent to `/route/`; never the user's key. */
  api_key: Schema.Redacted(Schema.String)
})
export type EndpointRecord = typeof EndpointRecord.Type

export const EndpointList = Schema.Struct({ results: Schema.Array(EndpointRecord) })

/**
 * A scaling setting as the endpoint list gives it. It may be absent or null (the doctor then says it
 * could not check it), and a numeric string is read as its number.
 */
const Setting = Schema.optional(Schema.NullOr(Schema.Union(Schema.Number, Schema.NumberFromString)))

/**
 * One item of `GET /api/v0/endptjobs/` with the endpoint's scaling settings (vast-protocol.md §8.2,
 * §10), for the doctor. Kept apart from `EndpointRecord`, so that an odd setting never stops a
 * reservation, which needs only the name and the key.
 */
export const EndpointSettingsRecord = Schema.Struct({
  id: Schema.Number,
  endpoint_name: Schema.String,
  endpoint_state: Schema.optional(Schema.NullOr(Schema.String)),
  target_util: Setting,
  min_load: Setting,
  max_workers: Setting,
  cold_workers: Setting,
  inactivity_timeout: Setting,
  max_queue_time: Setting,
  target_queue_time: Setting,
  min_cold_load: Setting,
  cold_mult: Setting
})

export const EndpointSettingsList = Schema.Struct({ results: Schema.Array(EndpointSettingsRecord) })

/** `POST /session/health` with a session id no worker holds: the cheapest call a worker answers. */
export const SessionHealthProbe = Schema.Struct({ session_id: Schema.String })

/** `POST {autoscaler}/route/`. */
export const RouteRequest = Schema.Struct({
  endpoint: Schema.String,
  api_key: Schema.String,
  cost: Schema.Number,
  request_idx: Schema.Int,
  replay_timeout: Schema.Number
})
export type RouteRequest = typeof RouteRequest.Type

/** A routing answer that names a worker: the whole object is the request's `auth_data`. */
export const RouteReady = AuthData

/**
 * A routing answer without `url`: no worker yet. `request_idx` is kept for the next poll when the
 * autoscaler assigned one; the rest (`endpoint`, worker counts under `status`) is only shown.
 */
export const RouteWaiting = Schema.Struct(
  {
    url: Schema.optional(Schema.Null),
    request_idx: Schema.optional(Schema.Int),
    status: Schema.optional(Schema.Unknown)
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

/** Ready when the answer has a `url`, waiting when it has none; anything else is a decode error. */
export const RouteAnswer = Schema.Union(RouteReady, RouteWaiting)

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })

export const CreateSessionRequest = Schema.Struct({
  auth_data: AuthData,
  payload: Schema.Struct({
    lifetime: Schema.Number,
    on_close_route: Schema.NullOr(Schema.String),
    on_close_payload: Schema.Unknown
  }),
  session_id: Schema.Null
})

/** `/session/end` and `/session/get`: the session's `auth_data` is its secret, `session_auth`. */
export const SessionRefRequest = Schema.Struct({
  session_id: Schema.String,
  session_auth: AuthData
})

/** `200` from `/session/end`; the status is what counts, the body is read when it is there. */
export const EndSessionAnswer = Schema.Struct({
  ended: Schema.optional(Schema.Boolean),
  removed_session: Schema.optional(Schema.String)
})

/** A handler call inside the session (the null worker's `/ping`). */
export const PingRequest = Schema.Struct({
  auth_data: AuthData,
  payload: JsonObject,
  session_id: Schema.String
})

/** `200` from `/session/get`. */
export const SessionInfoAnswer = Schema.Struct({
  session_id: Schema.String,
  lifetime: Schema.Number,
  expiration: Schema.Number,
  created_at: Schema.optional(Schema.Number)
})
export type SessionInfoAnswer = typeof SessionInfoAnswer.Type
