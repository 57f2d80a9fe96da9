/**
 * The bodies the worker sends to the autoscaler (vast-protocol.md §5.2, §5.6), encoded with Schema.
 * Field names are the protocol's, typo included (`num_requests_recieved`), in the framework's order.
 */
import { Schema } from "effect"

/** The framework version whose protocol we speak. */
export const PROTOCOL_VERSION = "1.1.0"

export const WorkerStatusBody = Schema.Struct({
  id: Schema.Int,
  mtoken: Schema.String,
  version: Schema.String,
  loadtime: Schema.Number,
  cur_load: Schema.Number,
  rej_load: Schema.Number,
  new_load: Schema.Number,
  error_msg: Schema.String,
  max_perf: Schema.Number,
  cur_perf: Schema.Number,
  cur_capacity: Schema.Int,
  max_capacity: Schema.Int,
  num_requests_working: Schema.Int,
  num_requests_recieved: Schema.Int,
  additional_disk_usage: Schema.Number,
  working_request_idxs: Schema.Array(Schema.Int),
  url: Schema.String
})
export type WorkerStatusBody = typeof WorkerStatusBody.Type

export const DeleteRequestsBody = Schema.Struct({
  worker_id: Schema.Int,
  mtoken: Schema.String,
  requests: Schema.Array(
    Schema.Struct({
      request_idx: Schema.Int,
      success: Schema.Boolean,
      status: Schema.Literal("Success", "Error", "Cancelled", "Rejected"),
      entered_queue_at: Schema.Number,
      work_started_at: Schema.Number,
      work_completed_at: Schema.Number
    })
  )
})
export type DeleteRequestsBody = typeof DeleteRequestsBody.Type

/** An error-only status, for a worker that failed to launch (§6.5). */
export const errorStatus = (input: {
  readonly id: number
  readonly mtoken: string
  readonly url: string
  readonly errorMsg: string
}): WorkerStatusBody => ({
  id: input.id,
  mtoken: input.mtoken,
  version: PROTOCOL_VERSION,
  loadtime: 0,
  cur_load: 0,
  rej_load: 0,
  new_load: 0,
  error_msg: input.errorMsg,
  max_perf: 0,
  cur_perf: 0,
  cur_capacity: 0,
  max_capacity: 0,
  num_requests_working: 0,
  num_requests_recieved: 0,
  additional_disk_usage: 0,
  working_request_idxs: [],
  url: input.url
})
