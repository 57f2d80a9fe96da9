/**
 * Endpoint lookup, `GET /api/v0/endptjobs/` (vast-protocol.md §8.2): `EndpointJob` is what the local serverless
 * answers (the real API's fields, so the client's `doctor` works against it as against Vast); the client reads
 * any such answer with the lenient `EndpointRecord` (what a reservation needs) and `EndpointSettingsRecord`
 * (what the doctor checks).
 */
import { Schema } from "effect"

export const EndpointJob = Schema.Struct({
  id: Schema.Int,
  endpoint_name: Schema.String,
  /** The endpoint's own key, for `/route/`; not the user's key. */
  api_key: Schema.String,
  user_id: Schema.Int,
  /** Epoch seconds. */
  created_at: Schema.Number,
  cold_workers: Schema.Int,
  max_workers: Schema.Int,
  min_load: Schema.Number,
  min_cold_load: Schema.Number,
  target_util: Schema.Number,
  cold_mult: Schema.Number,
  max_queue_time: Schema.Number,
  target_queue_time: Schema.Number,
  endpoint_state: Schema.String,
  inactivity_timeout: Schema.Number
})
export type EndpointJob = typeof EndpointJob.Type

export const EndpointJobList = Schema.Struct({ results: Schema.Array(EndpointJob) })

/** `GET /api/v0/endptjobs/{id}/`, the SDK's refresh of an endpoint it has held for 3 days: the record under `result`. */
export const EndpointJobAnswer = Schema.Struct({ result: EndpointJob })

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
