/**
 * The bodies of the public routes, as Schemas. Decoding them is the only way request data enters the
 * worker; what a Schema rejects becomes a 422 naming the field (see `src/http/body.ts`).
 */
import { Schema } from "effect"

/** The longest lifetime a session may ask for: 7 days. */
export const MAX_LIFETIME_SECONDS = 7 * 24 * 60 * 60
/** The framework's default lifetime when `payload.lifetime` is absent. */
export const DEFAULT_LIFETIME_SECONDS = 60

const NumericString = Schema.String.pipe(
  Schema.filter((text) => text.trim() !== "" && Number.isFinite(Number(text)) && Number(text) >= 0, {
    message: () => "must be a non-negative number or numeric string"
  })
)

/** `auth_data.cost`: the session's workload, a number or a numeric string (the framework's tests use `"1"`). */
export const Cost = Schema.Union(
  Schema.Number.pipe(Schema.finite(), Schema.nonNegative({ message: () => "must be a non-negative number" })),
  NumericString
)

/**
 * The autoscaler's routing answer, passed on by the client as `auth_data`. All six fields are
 * required; extra keys (`__request_id`, …) are kept, because `auth_data` is stored as it came and is
 * later compared with `session_auth`.
 */
export const AuthData = Schema.Struct(
  {
    url: Schema.String,
    signature: Schema.String,
    reqnum: Schema.Int,
    request_idx: Schema.Int,
    endpoint: Schema.String,
    cost: Cost
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)
export type AuthData = typeof AuthData.Type

/** The workload a session's `cost` stands for. */
export const costOf = (authData: AuthData): number => Number(authData.cost)

const isHttpUrl = (text: string): boolean => {
  if (!URL.canParse(text)) return false
  const { protocol, hostname } = new URL(text)
  return (protocol === "http:" || protocol === "https:") && hostname !== ""
}

/** An absolute http(s) URL. */
export const HttpUrl = Schema.String.pipe(
  Schema.filter(isHttpUrl, { message: () => "must be an absolute http(s) URL" })
)

export const Lifetime = Schema.Number.pipe(
  Schema.filter((seconds) => Number.isFinite(seconds) && seconds > 0 && seconds <= MAX_LIFETIME_SECONDS, {
    message: () => `must be a number of seconds above 0 and at most ${MAX_LIFETIME_SECONDS}`
  })
)

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  message: () => "must be a JSON object"
})

export const CreatePayload = Schema.Struct({
  lifetime: Schema.optional(Schema.NullOr(Lifetime)),
  on_close_route: Schema.optional(Schema.NullOr(HttpUrl)),
  on_close_payload: Schema.optional(Schema.Unknown)
})

/** `POST /session/create`. The SDK sends `session_id: null` and null payload keys; both are fine. */
export const CreateSessionBody = Schema.Struct({
  auth_data: AuthData,
  payload: Schema.optional(Schema.NullOr(CreatePayload)),
  session_id: Schema.optional(Schema.NullOr(Schema.String))
})
export type CreateSessionBody = typeof CreateSessionBody.Type

/** `/session/end`, `/session/get`, `/session/health`: read loosely, so a missing id gets its own 422. */
export const SessionRefBody = Schema.Struct({
  session_id: Schema.optional(Schema.Unknown),
  session_auth: Schema.optional(Schema.Unknown)
})

/** A handler request such as `/ping`: the framework requires `auth_data` and an object `payload`. */
export const HandlerRequestBody = Schema.Struct({
  auth_data: AuthData,
  payload: JsonObject,
  session_id: Schema.optional(Schema.NullOr(Schema.String))
})
export type HandlerRequestBody = typeof HandlerRequestBody.Type
