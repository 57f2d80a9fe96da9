/**
 * `POST /session/create` bodies in their common shape, decoded without the Schema machinery: the Schema's
 * decode measured ~10 µs of a 429's ~55 µs, and a worker that is full answers little else.
 *
 * It accepts only what `CreateSessionBody` accepts, and returns what the Schema would return (a property test
 * holds it to that); anything else (a numeric string for `cost`, an `on_close_route`, a wrong type anywhere)
 * gets `undefined`, and the Schema decides, with its error messages.
 */
import { MAX_COST } from "../../protocol/authData.js"
import { type CreateSessionBody, MAX_LIFETIME_SECONDS } from "../../protocol/session.js"

type Fields = Readonly<Record<string, unknown>>

const isObject = (value: unknown): value is Fields => typeof value === "object" && value !== null && !Array.isArray(value)

/** The value of an own property (JSON.parse makes every key own; a prototype's keys must not count). */
const own = (object: Fields, key: string): unknown => (Object.hasOwn(object, key) ? object[key] : undefined)

const authDataOf = (value: unknown): CreateSessionBody["auth_data"] | undefined => {
  if (!isObject(value)) return undefined
  const url = own(value, "url")
  const signature = own(value, "signature")
  const reqnum = own(value, "reqnum")
  const requestIdx = own(value, "request_idx")
  const endpoint = own(value, "endpoint")
  const cost = own(value, "cost")
  if (typeof url !== "string" || typeof signature !== "string" || typeof endpoint !== "string") return undefined
  if (typeof reqnum !== "number" || !Number.isSafeInteger(reqnum)) return undefined
  if (typeof requestIdx !== "number" || !Number.isSafeInteger(requestIdx)) return undefined
  if (typeof cost !== "number" || !(cost >= 0 && cost <= MAX_COST)) return undefined
  return { url, signature, reqnum, request_idx: requestIdx, endpoint, cost }
}

const lifetimeOf = (value: unknown): number | null | undefined | "other" => {
  if (value === undefined || value === null) return value
  return typeof value === "number" && value > 0 && value <= MAX_LIFETIME_SECONDS ? value : "other"
}

const payloadOf = (value: unknown): CreateSessionBody["payload"] | "other" => {
  if (value === undefined || value === null) return value
  if (!isObject(value)) return "other"
  const route = own(value, "on_close_route")
  if (route !== undefined && route !== null) return "other"
  const lifetime = lifetimeOf(own(value, "lifetime"))
  if (lifetime === "other") return "other"
  const payload: { lifetime?: number | null; on_close_route?: null; on_close_payload?: unknown } = {}
  if (Object.hasOwn(value, "lifetime")) payload.lifetime = lifetime ?? null
  if (Object.hasOwn(value, "on_close_route")) payload.on_close_route = null
  if (Object.hasOwn(value, "on_close_payload")) payload.on_close_payload = value["on_close_payload"]
  return payload
}

/** The decoded body, or `undefined` when the Schema must decide. */
export const decodeCreateSessionFast = (body: unknown): CreateSessionBody | undefined => {
  if (!isObject(body)) return undefined
  const authData = authDataOf(own(body, "auth_data"))
  if (authData === undefined) return undefined
  const payload = payloadOf(own(body, "payload"))
  if (payload === "other") return undefined
  const rawSessionId = own(body, "session_id")
  const sessionId = typeof rawSessionId === "string" ? rawSessionId : rawSessionId === null || rawSessionId === undefined ? null : undefined
  if (sessionId === undefined) return undefined
  const decoded: { auth_data: CreateSessionBody["auth_data"]; payload?: CreateSessionBody["payload"]; session_id?: string | null } = { auth_data: authData }
  if (Object.hasOwn(body, "payload")) decoded.payload = payload
  if (Object.hasOwn(body, "session_id")) decoded.session_id = sessionId
  return decoded
}
