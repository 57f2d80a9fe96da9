/**
 * The `on_close_route` callback (vast-protocol.md §4.4) and why a session closed.
 */
import { Schema } from "effect"
import { ExactInteger, jsonText } from "../shared/exactJson.js"
import { SESSION_ID_LENGTH } from "./SessionId.js"

/**
 * The `User-Agent` of every callback POST, naming its sender. The control port refuses a request that carries it: a
 * session's `on_close_route` is chosen by whoever made the reservation, and on a host with several workers (the local
 * serverless) it could otherwise name another worker's `/recycle` or `/release`.
 */
export const CALLBACK_USER_AGENT_PREFIX = "null-worker-callback/"

/** The largest callback body a session may carry, in bytes of UTF-8. */
export const MAX_CALLBACK_BYTES = 1024 * 1024

export const CloseReason = Schema.Literal("ended", "released", "expired", "shutdown")
/** Why a session ended. `ended`: `/session/end`; `released`: local `/release`; `expired`: a limit passed. */
export type CloseReason = typeof CloseReason.Type

/** Which limit closed an expired session: the sliding lifetime, or the hard cap (`MAX_SESSION_SECONDS`). */
export const ExpiryLimit = Schema.Literal("lifetime", "cap")
export type ExpiryLimit = typeof ExpiryLimit.Type

/**
 * The body POSTed to `on_close_route`: the user's payload plus `session_id`, and ours beyond the framework:
 * `close_reason`, `generation`, and `expired_by` for an expiry. A key the user's payload already has is
 * kept as the user wrote it (the framework's rule for `session_id`).
 */
export const CallbackBody = Schema.Record({ key: Schema.String, value: Schema.Unknown })
export type CallbackBody = typeof CallbackBody.Type

export interface CloseFacts {
  readonly sessionId: string
  readonly reason: CloseReason
  readonly generation: number
  readonly expiredBy: ExpiryLimit | null
}

/** Our keys, in the order the callback adds them. */
const OUR_KEYS = ["session_id", "close_reason", "generation", "expired_by"] as const
type OurKey = (typeof OUR_KEYS)[number]

/** A payload the callback copies key by key: a JSON object (an integer past 2^53 is an object here, but a number on the wire). */
const isObjectPayload = (payload: unknown): payload is object =>
  typeof payload === "object" && payload !== null && !Array.isArray(payload) && !(payload instanceof ExactInteger)

/**
 * The framework's shape: a copy of an object payload, `{}` for none, `{"payload": v}` for any other JSON
 * value; then our keys, each only when absent.
 */
export const callbackBody = (payload: unknown, facts: CloseFacts): CallbackBody => {
  const body: Record<string, unknown> = payload === null || payload === undefined ? {} : isObjectPayload(payload) ? { ...payload } : { payload }
  const add = (key: OurKey, value: unknown) => {
    if (!Object.hasOwn(body, key)) body[key] = value
  }
  add("session_id", facts.sessionId)
  add("close_reason", facts.reason)
  add("generation", facts.generation)
  if (facts.expiredBy !== null) add("expired_by", facts.expiredBy)
  return body
}

/**
 * An open session's `on_close_payload`, kept until its close as the text its callback is made from. Parsed, a megabyte of
 * small keys took several times its text in heap, and parsing it again at the close ~100 ms of the event loop; the text
 * and what `callbackBody` would ask of the object (its shape, which of our keys it has) are all the close needs.
 */
export interface KeptPayload {
  /** The payload's JSON text (`null` for none). */
  readonly text: string
  /** `object`: the callback is its keys and ours; `value`: `{"payload": …}` and ours; `none`: ours alone. */
  readonly shape: "none" | "object" | "value"
  /** Our keys the payload object already has: kept as the user wrote them. */
  readonly ownKeys: ReadonlyArray<OurKey>
}

const NO_KEYS: ReadonlyArray<OurKey> = []
/** No payload: the callback is our keys alone. */
export const NO_PAYLOAD: KeptPayload = { text: "null", shape: "none", ownKeys: NO_KEYS }

/** Keeps `payload` for its callback. Throws only for a value JSON cannot represent. */
export const keepPayload = (payload: unknown): KeptPayload => {
  if (payload === null || payload === undefined) return NO_PAYLOAD
  const text = jsonText(payload)
  if (text === undefined) throw new TypeError("the payload has no JSON text")
  if (!isObjectPayload(payload)) return { text, shape: "value", ownKeys: NO_KEYS }
  const ownKeys = OUR_KEYS.filter((key) => Object.hasOwn(payload, key))
  return { text, shape: "object", ownKeys: ownKeys.length === 0 ? NO_KEYS : ownKeys }
}

/**
 * The callback's JSON text, joined from the kept text: what `jsonText(callbackBody(payload, facts))` writes, byte for byte
 * (`JSON.stringify` writes an object's keys in their order, and ours, added last and never integer-like, come last).
 */
export const keptCallbackText = (kept: KeptPayload, facts: CloseFacts): string => {
  const ours = ourKeysText(kept, facts)
  switch (kept.shape) {
    case "none":
      return `{${ours}}`
    case "value":
      return `{"payload":${kept.text}${ours === "" ? "" : ","}${ours}}`
    case "object": {
      const keys = kept.text.slice(1, -1)
      return `{${keys}${keys !== "" && ours !== "" ? "," : ""}${ours}}`
    }
  }
}

/** Our keys the payload does not have, as JSON members: `"session_id":"…","close_reason":"…",…`. */
const ourKeysText = (kept: KeptPayload, facts: CloseFacts): string => {
  let ours = ""
  const add = (key: OurKey, valueText: string) => {
    if (!kept.ownKeys.includes(key)) ours += `${ours === "" ? "" : ","}"${key}":${valueText}`
  }
  add("session_id", JSON.stringify(facts.sessionId))
  add("close_reason", JSON.stringify(facts.reason))
  add("generation", JSON.stringify(facts.generation))
  if (facts.expiredBy !== null) add("expired_by", JSON.stringify(facts.expiredBy))
  return ours
}

/**
 * `keptCallbackText(kept, facts).length`, without making the text (a copy of up to a megabyte of payload, at each
 * create that reserves room for its callback).
 */
export const keptCallbackLength = (kept: KeptPayload, facts: CloseFacts): number => {
  const ours = ourKeysText(kept, facts).length
  switch (kept.shape) {
    case "none":
      return ours + 2
    case "value":
      return '{"payload":'.length + kept.text.length + (ours === 0 ? 0 : 1) + ours + 1
    case "object": {
      const keys = kept.text.length - 2
      return keys + (keys !== 0 && ours !== 0 ? 1 : 0) + ours + 2
    }
  }
}

/**
 * The callback's text's size in UTF-8 bytes, without making the text: all but the payload's own text is ASCII (our keys,
 * a session id, close reasons, limits, digits), one byte a character.
 */
export const keptCallbackBytes = (kept: KeptPayload, facts: CloseFacts): number =>
  Buffer.byteLength(kept.text) + keptCallbackLength(kept, facts) - kept.text.length

/**
 * The callback body as the JSON text that is sent (integers past 2^53 as they came). Throws only for a value JSON cannot
 * represent. Written from the text, not through `CallbackBody`: encoding would rebuild it key by key, and a payload's own
 * `__proto__` key (JSON allows it; `/session/get` shows it) would set a prototype instead of being sent.
 */
export const callbackText = (payload: unknown, facts: CloseFacts): string => keptCallbackText(keepPayload(payload), facts)

const longest = (words: ReadonlyArray<string>): string => words.reduce((a, b) => (b.length > a.length ? b : a))

/** The close whose keys are longest: the callback any other close of the same session makes is no longer. */
export const LONGEST_CLOSE: CloseFacts = {
  sessionId: "x".repeat(SESSION_ID_LENGTH),
  reason: longest(CloseReason.literals) as CloseReason,
  generation: Number.MAX_SAFE_INTEGER,
  expiredBy: longest(ExpiryLimit.literals) as ExpiryLimit
}

