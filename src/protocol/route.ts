/**
 * Routing (vast-protocol.md §8.3): `POST {autoscaler}/route/`, what a client sends and what the autoscaler
 * (Vast's, or the local serverless) answers. The client sends `RouteRequest`; the local serverless reads it
 * with `RouteRequestIn`, which fills in what older clients leave out.
 */
import { Schema } from "effect"
import { AuthData, CostNumber } from "./authData.js"
import { HttpUrl } from "./httpUrl.js"

export const RouteRequest = Schema.Struct({
  endpoint: Schema.String,
  api_key: Schema.String,
  cost: Schema.Number,
  request_idx: Schema.Int,
  replay_timeout: Schema.Number
})
export type RouteRequest = typeof RouteRequest.Type

/**
 * `RouteRequest` as a server reads it: `cost` defaults to 100, `request_idx` to 0 (a first request). `cost` is
 * bounded as a worker bounds `auth_data.cost`: the local serverless adds it to a worker's load, so `1e300` or a
 * negative cost would scale the endpoint for nothing.
 */
export const RouteRequestIn = Schema.Struct({
  endpoint: Schema.String,
  api_key: Schema.String,
  cost: Schema.optionalWith(CostNumber, { default: () => 100 }),
  // 0 (or none) for a first request; a negative one is no index an autoscaler gave (probe 43 I6).
  request_idx: Schema.optionalWith(Schema.NullOr(Schema.Int.pipe(Schema.nonNegative())), { default: () => 0 }),
  replay_timeout: Schema.optional(Schema.Number)
})

/**
 * A routing answer that names a worker: the whole object is the request's `auth_data`. Its `url` is where the
 * client sends the create, so it must be http(s): Node's HTTP client throws on any other scheme.
 */
export const RouteReady = Schema.Struct({ ...AuthData.fields, url: HttpUrl }, ...AuthData.records)

/**
 * A routing answer without `url`: no worker yet. `request_idx` is kept for the next poll when the autoscaler
 * assigned one; the rest (`endpoint`, worker counts under `status`) is only shown.
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
export type RouteAnswer = typeof RouteAnswer.Type

/**
 * Whether an answer claims to name a worker (a `url` that is not null), read before it is decoded. Decoding it
 * against the shape it claims alone makes a bad answer's message about what it got wrong (a waiting answer's
 * `request_idx` of 1.5), not about the union's first member's missing `url`.
 */
export const routeAnswerNamesWorker = (value: unknown): boolean =>
  typeof value === "object" && value !== null && (value as { readonly url?: unknown }).url != null
