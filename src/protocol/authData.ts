/**
 * `auth_data`: the autoscaler's routing answer, which a client passes on unchanged to the worker
 * (vast-protocol.md §3.1). The worker, the client and the local serverless all read it with this Schema.
 */
import { Schema } from "effect"

/**
 * The largest `cost` (workload) one request may declare. The null worker's `max_perf` is 100 and a session
 * costs 100 (or 200 for the over-provisioning workaround); a million is far beyond any honest use and
 * keeps every counter it reaches finite.
 */
export const MAX_COST = 1_000_000

const costMessage = `must be a number from 0 to ${MAX_COST}`

const NumericString = Schema.String.pipe(
  Schema.filter((text) => text.trim() !== "" && Number.isFinite(Number(text)) && Number(text) >= 0 && Number(text) <= MAX_COST, {
    message: () => `${costMessage}, or such a number as a string`
  })
)

/** `auth_data.cost`: the session's workload, a number or a numeric string (the framework's tests use `"1"`). */
export const Cost = Schema.Union(
  Schema.Number.pipe(
    Schema.filter((n) => Number.isFinite(n) && n >= 0 && n <= MAX_COST, { message: () => costMessage })
  ),
  NumericString
)

/** A request number the autoscaler assigns; reported back as it came, so it must be a safe integer. */
const RequestNumber = Schema.Int.annotations({ message: () => "must be an integer" })

/**
 * All six fields are required; extra keys (`__request_id`, …) are kept, because `auth_data` is stored as it
 * came and later compared with `session_auth`.
 */
export const AuthData = Schema.Struct(
  {
    url: Schema.String,
    signature: Schema.String,
    reqnum: RequestNumber,
    request_idx: RequestNumber,
    endpoint: Schema.String,
    cost: Cost
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)
export type AuthData = typeof AuthData.Type

/** The workload a `cost` stands for: finite and within `[0, MAX_COST]` by the Schema above. */
export const costOf = (authData: Pick<AuthData, "cost">): number => Number(authData.cost)
