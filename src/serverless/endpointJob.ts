/**
 * What the local serverless answers to `GET /api/v0/endptjobs/`: the real API's fields for each
 * endpoint (vast-protocol.md §8.2), so tools that read an endpoint's settings (the client's `doctor`)
 * work against it as against Vast.
 */
import { Schema } from "effect"
import type { EndpointParams } from "./scaling.js"

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

/**
 * `min_cold_load` and `cold_mult` shape Vast's pool of cold (stopped but loaded) instances, which
 * local processes cannot be: our rules do not use them, so they are reported at the CLI's defaults
 * (vast-protocol.md §10).
 */
export const unmodelled = { min_cold_load: 0, cold_mult: 2.5 } as const

/** The endpoint record for `params`. */
export const endpointJob = (fields: {
  readonly id: number
  readonly name: string
  readonly apiKey: string
  readonly createdAt: number
  readonly params: EndpointParams
}): EndpointJob => ({
  id: fields.id,
  endpoint_name: fields.name,
  api_key: fields.apiKey,
  user_id: 1,
  created_at: fields.createdAt,
  cold_workers: fields.params.cold_workers,
  max_workers: fields.params.max_workers,
  min_load: fields.params.min_load,
  min_cold_load: unmodelled.min_cold_load,
  target_util: fields.params.target_util,
  cold_mult: unmodelled.cold_mult,
  max_queue_time: fields.params.max_queue_time,
  target_queue_time: fields.params.target_queue_time,
  endpoint_state: "active",
  inactivity_timeout: fields.params.inactivity_timeout
})
