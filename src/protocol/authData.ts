/**
 * `auth_data`: the autoscaler's routing answer, which a client passes on unchanged to the worker
 * (vast-protocol.md §3.1). The worker, the client and the local serverless all read it with this Schema.
 */
import { Schema } from "effect"
import { DECIMAL_NUMBER } from "../shared/decimalText.js"

/**
 * The largest `cost` (workload) one request may declare. The null worker's `max_perf` is 100 and a session
 * costs 100 (or 200 for the over-provisioning workaround); a million is far beyond any honest use and
 * keeps every counter it reaches finite.
 */
export const MAX_COST = 1_000_000

/**
 * The longest `auth_data` a session keeps, in characters of its JSON text. A signed route answer's is a few hundred;
 * an open session keeps its `auth_data` as that text (for `/session/get`), and each create parses it, so without a
 * bound a worker with many slots could be made to hold, and parse, megabytes for each.
 */
export const AUTH_DATA_MAX_LENGTH = 16_384

const costMessage = `must be a number from 0 to ${MAX_COST}`

const numericStringMessage = `${costMessage}, or such a number as a string`

/** In decimal, as Python's `float` reads it (`Number` alone would also take `0x10`, `0b11` and `0o7`). */
const NumericString = Schema.String.pipe(
  Schema.filter((text) => DECIMAL_NUMBER.test(text.trim()) && Number(text) >= 0 && Number(text) <= MAX_COST, {
    message: () => numericStringMessage
  })
)

/**
 * A workload as a JSON number, within `[0, MAX_COST]`: what `/route/` takes and the client CLI accepts. A value of
 * another type is refused with the same rule (review 43 I8), not Schema's "Expected number".
 */
export const CostNumber = Schema.Number.annotations({ message: () => costMessage }).pipe(
  Schema.filter((n) => Number.isFinite(n) && n >= 0 && n <= MAX_COST, { message: () => costMessage })
)

/** `auth_data.cost`: the session's workload, a number or a numeric string (the framework's tests use `"1"`). */
export const Cost = Schema.Union(CostNumber, NumericString).annotations({ message: () => ({ message: numericStringMessage, override: true }) })

/** A request number the autoscaler assigns; reported back as it came, so it must be a safe integer. */
const RequestNumber = Schema.Int.annotations({ message: () => "must be an integer" })

const fields = {
  url: Schema.String,
  signature: Schema.String,
  reqnum: RequestNumber,
  request_idx: RequestNumber,
  endpoint: Schema.String,
  cost: Cost
}

/**
 * All six fields are required; extra keys (`__request_id`, …) are kept, because a client passes `auth_data`
 * on as it came.
 */
export const AuthData = Schema.Struct(fields, Schema.Record({ key: Schema.String, value: Schema.Unknown }))

/**
 * The six fields a worker checks; other keys are not copied (~20 % cheaper to decode). The worker keeps the
 * whole `auth_data` as its JSON text, for `/session/get`, and a digest of it, for comparing it with `session_auth`.
 */
export const AuthDataFields = Schema.Struct(fields)
export type AuthData = typeof AuthData.Type

/** The workload a `cost` stands for: finite and within `[0, MAX_COST]` by the Schema above. */
export const costOf = (authData: Pick<AuthData, "cost">): number => Number(authData.cost)
