import type { EndpointJob } from "../protocol/endpoint.js"
import type { EndpointParams } from "./scaling.js"

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
