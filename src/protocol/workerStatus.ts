/**
 * What a worker tells the autoscaler (vast-protocol.md §5.2, §5.6), built once here and used by the worker,
 * the local serverless and the test fakes. Field names are the protocol's, typo included
 * (`num_requests_recieved`), in the framework's order.
 */
import { Schema } from "effect"

/** The framework version whose protocol we speak. */
export const PROTOCOL_VERSION = "1.1.0"
/** `max_perf` of a ready null worker. */
export const MAX_PERF = 100
/** With nothing new to say, a worker still reports this often (its heartbeat), in seconds. */
export const HEARTBEAT_SECONDS = 10
/** A change is reported at once, but two reports are at least this far apart, in milliseconds. */
export const REPORT_SPACING_MS = 250

/** A load, a rate or a time: finite and never below zero (a report saying otherwise is refused, naming the field). */
const Amount = Schema.Finite.pipe(Schema.nonNegative())
/** A count. */
const Count = Schema.NonNegativeInt

export const WorkerStatusBody = Schema.Struct({
  id: Schema.Int,
  mtoken: Schema.String,
  version: Schema.String,
  loadtime: Amount,
  cur_load: Amount,
  rej_load: Amount,
  new_load: Amount,
  error_msg: Schema.String,
  max_perf: Amount,
  cur_perf: Amount,
  cur_capacity: Count,
  max_capacity: Count,
  num_requests_working: Count,
  num_requests_recieved: Count,
  // A change since the last report: it can be negative.
  additional_disk_usage: Schema.Finite,
  working_request_idxs: Schema.Array(Schema.Int),
  url: Schema.String
})
export type WorkerStatusBody = typeof WorkerStatusBody.Type

export const RequestStatus = Schema.Literal("Success", "Error", "Cancelled", "Rejected")
export type RequestStatus = typeof RequestStatus.Type

/** One `/delete_requests/` record (times in epoch seconds). */
export const DeletionRecord = Schema.Struct({
  request_idx: Schema.Int,
  success: Schema.Boolean,
  status: RequestStatus,
  entered_queue_at: Schema.Number,
  work_started_at: Schema.Number,
  work_completed_at: Schema.Number
})
export type DeletionRecord = typeof DeletionRecord.Type

export const DeleteRequestsBody = Schema.Struct({
  worker_id: Schema.Int,
  mtoken: Schema.String,
  requests: Schema.Array(DeletionRecord)
})
export type DeleteRequestsBody = typeof DeleteRequestsBody.Type

// The deletion records are written as text directly, thousands per tick, from numbers the worker keeps: the
// same bytes `JSON.stringify` gives for the Schema's encoded form (property tests hold them to it), without an
// object per record first.

/** A number as JSON writes it (`null` for what JSON cannot hold). */
const jsonNumber = (value: number): string => (Number.isFinite(value) ? String(value) : "null")

/** One `DeletionRecord` as JSON text, its keys in the Schema's order; times in epoch seconds. */
export const deletionRecordJson = (
  requestIdx: number,
  success: boolean,
  status: RequestStatus,
  enteredQueueAt: number,
  workStartedAt: number,
  workCompletedAt: number
): string =>
  `{"request_idx":${jsonNumber(requestIdx)},"success":${success ? "true" : "false"},"status":"${status}",` +
  `"entered_queue_at":${jsonNumber(enteredQueueAt)},"work_started_at":${jsonNumber(workStartedAt)},"work_completed_at":${jsonNumber(workCompletedAt)}}`

/** The `/delete_requests/` body around `requestsJson`, a JSON array of records. */
export const deleteRequestsJson = (identity: Pick<WorkerIdentity, "id" | "mtoken">, requestsJson: string): string =>
  `{"worker_id":${jsonNumber(identity.id)},"mtoken":${JSON.stringify(identity.mtoken)},"requests":${requestsJson}}`

/** Who is reporting. */
export interface WorkerIdentity {
  readonly id: number
  readonly mtoken: string
  readonly url: string
}

/** What a report says, in the worker's own terms; `statusBody` turns it into the wire body. */
export interface StatusFacts {
  readonly loadtime: number
  readonly curLoad: number
  readonly rejected: number
  readonly received: number
  readonly cancelled: number
  readonly served: number
  readonly errorMsg: string
  readonly ready: boolean
  /** Taking no new session (draining to stop, recycled or errored): reported as no capacity, as before ready. */
  readonly takingNoSession: boolean
  readonly workingRequestIdxs: ReadonlyArray<number>
  readonly numRequestsRecieved: number
  readonly additionalDiskUsage: number
}

/**
 * The `/worker_status/` body. Built as the type says, not checked against the schema's bounds here: a check that threw
 * would end the worker's reports for good. The receivers check (the local serverless, the tests' fakes).
 */
export const statusBody = (identity: WorkerIdentity, facts: StatusFacts): WorkerStatusBody => ({
  id: identity.id,
  mtoken: identity.mtoken,
  version: PROTOCOL_VERSION,
  loadtime: facts.loadtime,
  cur_load: facts.curLoad,
  rej_load: facts.rejected,
  new_load: Math.max(facts.received - facts.cancelled, 0),
  error_msg: facts.errorMsg,
  // Never advertise capacity while creates would be refused: before ready, while draining to stop, once recycled or
  // errored (review 54 M1: an errored worker said 100 while it refused every create).
  max_perf: facts.ready && !facts.takingNoSession ? MAX_PERF : 0,
  cur_perf: facts.served,
  cur_capacity: 0,
  max_capacity: 0,
  num_requests_working: facts.workingRequestIdxs.length,
  num_requests_recieved: facts.numRequestsRecieved,
  additional_disk_usage: facts.additionalDiskUsage,
  working_request_idxs: facts.workingRequestIdxs,
  url: identity.url
})

/** An error-only status, for a worker that failed to launch (§6.5). */
export const errorStatus = (identity: WorkerIdentity, errorMsg: string): WorkerStatusBody =>
  statusBody(identity, {
    loadtime: 0,
    curLoad: 0,
    rejected: 0,
    received: 0,
    cancelled: 0,
    served: 0,
    errorMsg,
    ready: false,
    takingNoSession: false,
    workingRequestIdxs: [],
    numRequestsRecieved: 0,
    additionalDiskUsage: 0
  })
