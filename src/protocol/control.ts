/**
 * The worker's loopback control port (`127.0.0.1:NULL_CONTROL_PORT`): what a consumer on the instance
 * sends and reads. The seed's routes (`/release`, `/health`) keep their exact answers to the seed's requests; the
 * rest is ours, `/release`'s body and query included (a query names a session, and any other key in it is refused:
 * a typo such as `?gen=2` must not fall back to releasing every session).
 */
import { Schema } from "effect"
import { CloseReason } from "./callback.js"

/**
 * `POST /release` body, optional. Without one, every open session closes (the seed's behaviour). With
 * `generation` or `session_id`, only that session closes, and only if it is still open (fencing: a late
 * release from an old job cannot free a newer reservation).
 */
/** What a generation is, in the body and in the query alike (one past 2^53 could not be told from its neighbour). */
export const GENERATION_RULE = `must be a whole number from 1 to ${Number.MAX_SAFE_INTEGER}`
export const ReleaseByGeneration = Schema.Struct({
  generation: Schema.Int.pipe(Schema.positive()).annotations({ message: () => ({ message: GENERATION_RULE, override: true }) })
})
export const ReleaseBySession = Schema.Struct({ session_id: Schema.String.pipe(Schema.minLength(1)) })
export const RELEASE_BODY_SHAPES = "must be {} or {\"generation\": n} or {\"session_id\": \"…\"}"
export const ReleaseRequest = Schema.Union(ReleaseByGeneration, ReleaseBySession).annotations({ message: () => RELEASE_BODY_SHAPES })
export type ReleaseRequest = typeof ReleaseRequest.Type

export const ReleaseAnswer = Schema.Union(
  Schema.Struct({ released: Schema.Literal(true), session_ids: Schema.Array(Schema.String) }),
  Schema.Struct({ released: Schema.Literal(false), reason: Schema.String })
)
export type ReleaseAnswer = typeof ReleaseAnswer.Type

/** The longest `GET /sessions?wait=` the worker honours, in seconds: its long polls' cap, and what a consumer may ask. */
export const MAX_SESSIONS_WAIT_SECONDS = 300

/**
 * The most of a `/recycle` reason (its body `{"reason": "…"}`, optional; any other body is taken too) the worker
 * reports: the rest is cut, and the reason says how long it was.
 */
export const RECYCLE_REASON_MAX = 1000

/** One open session, as `GET /sessions` shows it (no secrets). Times in epoch seconds. */
export const SessionView = Schema.Struct({
  session_id: Schema.String,
  generation: Schema.Int,
  created_at: Schema.Number,
  expires_at: Schema.Number,
  cost: Schema.Number,
  request_idx: Schema.Int
})
export type SessionView = typeof SessionView.Type

/**
 * `GET /sessions`: the open sessions and whether the worker is draining. `index` moves on every change;
 * `GET /sessions?index=N&wait=S` answers when it differs from `N`, or after `S` seconds (a long poll).
 */
export const SessionsAnswer = Schema.Struct({
  sessions: Schema.Array(SessionView),
  draining: Schema.Boolean,
  index: Schema.Int
})
export type SessionsAnswer = typeof SessionsAnswer.Type

/** One remembered close, in `/debug`. */
export const CloseView = Schema.Struct({
  session_id: Schema.String,
  generation: Schema.Int,
  slot: Schema.Int,
  reason: CloseReason,
  closed_at: Schema.Number
})
