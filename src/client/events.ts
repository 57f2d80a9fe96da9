/**
 * What the CLI reports, one event per fact. With `--json` each event is printed as one JSON object
 * per line, with `at` (ISO 8601) added; `reservation` numbers a reservation from 1 (before routing
 * names a worker it has no session id yet).
 */
import { echoedId, SESSION_ID_MAX_LENGTH } from "../protocol/SessionId.js"
import { MAX_LIFETIME_SECONDS } from "../protocol/session.js"
import { ROUTE_ATTEMPTS } from "./backoff.js"

/** A session found over: its worker closed it, or lost it. The reason is the worker's or the client's word. */
export interface SessionClosedEvent {
  readonly event: "closed"
  readonly reservation: number
  readonly session_id: string
  readonly url: string
  readonly reason: string
}

/** An operation that failed, with the reservation and session it concerned when there was one. */
export interface OperationErrorEvent {
  readonly event: "error"
  readonly operation: string
  readonly message: string
  readonly reservation?: number
  readonly session_id?: string
}

/** A session the run may leave holding its worker. */
export interface LeftOpen {
  readonly reservation: number
  readonly session_id: string
  readonly url: string
  /** Epoch seconds, as the worker last said (at the create, then at each ping). */
  readonly expiration: number
}

/**
 * The last line of a `--json` run that a second stop signal quits at once: written as it quits, outside the reporter
 * (`leftOpen.ts`), with the sessions it did not end.
 */
export interface QuitEvent {
  readonly event: "quit"
  readonly signal: string
  readonly left_open: ReadonlyArray<LeftOpen>
  /** Reservations with neither a session nor a failure: a create already sent may still open a session. */
  readonly reserving: ReadonlyArray<number>
}

export type ClientEvent =
  | { readonly event: "endpoint"; readonly name: string; readonly id: number }
  | { readonly event: "routing"; readonly reservation: number; readonly request_idx: number }
  | {
      readonly event: "waiting"
      readonly reservation: number
      readonly request_idx: number
      readonly attempt: number
      /** Seconds until the next poll of `/route/`. */
      readonly retry_in: number
      readonly status: unknown
    }
  | {
      /** `/route/` failed in a way that may pass (no answer, 408, 429, 5xx); the client asks again after `retry_in`. */
      readonly event: "route_failed"
      readonly reservation: number
      readonly request_idx: number
      /** Failures in a row so far, from 1; the reservation fails at `ROUTE_ATTEMPTS`. */
      readonly attempt: number
      /** The autoscaler's status, or null when it did not answer. */
      readonly status: number | null
      readonly message: string
      readonly retry_in: number
    }
  | {
      /** A worker refused `/session/create` (429: full); the client routes again with the same request_idx. */
      readonly event: "refused"
      readonly reservation: number
      readonly url: string
      readonly request_idx: number
      readonly status: number | null
      readonly message: string
      readonly retry_in: number
    }
  | {
      readonly event: "created"
      readonly reservation: number
      readonly session_id: string
      readonly url: string
      /** Epoch seconds, as the worker said. */
      readonly expiration: number
      readonly request_idx: number
    }
  | {
      readonly event: "pinged"
      readonly reservation: number
      readonly session_id: string
      readonly url: string
      readonly expiration: number
    }
  | { readonly event: "holding"; readonly seconds: number; readonly sessions: number }
  | { readonly event: "ending"; readonly reservation: number; readonly session_id: string; readonly url: string }
  | { readonly event: "ended"; readonly reservation: number; readonly session_id: string; readonly url: string }
  | {
      /** `/session/end` failed in a way that may pass (no answer, 408, 429, 5xx); the client asks again after `retry_in`. */
      readonly event: "end_retry"
      readonly reservation: number
      readonly session_id: string
      readonly url: string
      /** Failures so far, from 1; the end fails at `END_ATTEMPTS` (5), or sooner once its time is up. */
      readonly attempt: number
      readonly message: string
      readonly retry_in: number
    }
  /** The worker had closed the session already (410 on /ping or /session/end): not a failure. */
  | SessionClosedEvent
  /** `fatal`: it makes the exit status non-zero (a failed create or end). */
  | (OperationErrorEvent & { readonly fatal: boolean })
  /** Ctrl-C or SIGTERM: no new reservation starts, routing stops, and the open sessions are ended. */
  | { readonly event: "interrupted" }
  | { readonly event: "shutdown"; readonly open: number }
  | {
      /**
       * The stop waits for calls sent before it: creates (a session one makes is ended as it returns) and ends. The
       * sessions already open are ended meanwhile.
       */
      readonly event: "in_flight"
      readonly creates: number
      readonly ends: number
    }
  | {
      readonly event: "done"
      readonly created: number
      readonly ended: number
      /** Closed by their worker (expiry, its consumer's release). */
      readonly closed: number
      /** Gone with their worker: nothing listened at its address any more (scaled down, killed, the machine lost). */
      readonly gone_with_worker: number
      /** Closed, told so by a `410` to an end asked again after a cut: the first end's doing, or the worker's before it. */
      readonly closed_after_cut: number
      readonly failures: number
      /** True when a signal stopped the run. */
      readonly interrupted: boolean
    }

export type EventName = ClientEvent["event"]

/** An error's message where the line already names its operation: without the name a second time. */
export const withoutOperation = (operation: string, message: string): string =>
  message.startsWith(`${operation}: `) ? message.slice(operation.length + 2) : message

/** An error's line: `error (route): <message>`. */
export const operationErrorLine = (kind: string, operation: string, message: string): string =>
  `${kind} (${operation}): ${withoutOperation(operation, message)}`

const seconds = (value: number): string => `${Number(value.toFixed(1))} s`

/** How far the worker's clock may be ahead of ours before its expiration is called past the longest lifetime. */
const CLOCK_LEEWAY_SECONDS = 60

/**
 * When a session expires, from the worker's `expiration` (epoch seconds): a worker's number is shown within what a
 * session can be (now to the longest lifetime), so a broken or hostile one cannot print a negative or astronomic time.
 */
const expiresIn = (expiration: number, now: number): string => {
  const left = expiration - now / 1000
  if (!(left >= 0)) return "expires now (the worker's expiration is already past)"
  if (left > MAX_LIFETIME_SECONDS + CLOCK_LEEWAY_SECONDS) return `expires in over ${MAX_LIFETIME_SECONDS} s (the worker's expiration is past the longest lifetime)`
  return `expires in ${seconds(left)}`
}

/** Said only when some: most runs never see an end's answer lost. */
const afterCut = (count: number): string => (count > 0 ? `${count} closed after an end whose answer was lost, ` : "")
// Found gone: released first or not, the client cannot tell (a worker scaled down right after a release looks the same).
const goneWith = (count: number): string => (count > 0 ? `${count} found with their worker gone, ` : "")

/** The client's bound on one call (`VastClient`'s default `callTimeout`). */
const CALL_SECONDS = 10
/** An end's bound once the run stops: no new attempt after `END_RETRY_WITHIN_STOPPING` (10 s), and one call's 10 s. */
const STOPPING_END_SECONDS = 20

const inFlightBounds = (creates: number, ends: number): string =>
  [
    creates > 0 ? `a create is answered or given up within ${CALL_SECONDS} s of being sent, and the session it makes is ended as it returns` : "",
    ends > 0 ? `an end is over within ${STOPPING_END_SECONDS} s` : ""
  ]
    .filter((part) => part !== "")
    .join("; ")

const inFlightCalls = (creates: number, ends: number): string =>
  [creates > 0 ? `${creates} create${creates === 1 ? "" : "s"}` : "", ends > 0 ? `${ends} end${ends === 1 ? "" : "s"}` : ""].filter((part) => part !== "").join(" and ")

/** One line of prose for `event`; `now` (epoch ms) makes expirations relative. */
export const describe = (reported: ClientEvent, now: number): string => {
  // A worker's id past the longest the protocol has is shown cut, not a line of a megabyte (--json keeps it whole).
  const event: ClientEvent =
    "session_id" in reported && reported.session_id !== undefined && reported.session_id.length > SESSION_ID_MAX_LENGTH
      ? { ...reported, session_id: echoedId(reported.session_id) }
      : reported
  const tag = "reservation" in event && event.reservation !== undefined ? `#${event.reservation} ` : ""
  switch (event.event) {
    case "endpoint":
      return `endpoint ${event.name} (id ${event.id})`
    case "routing":
      return `${tag}routing (request_idx ${event.request_idx})`
    case "waiting":
      return `${tag}waiting for a worker (request_idx ${event.request_idx}), polling again in ${seconds(event.retry_in)}`
    case "route_failed":
      return `${tag}routing failed (${event.message}; ${event.attempt} of ${ROUTE_ATTEMPTS} in a row), routing again in ${seconds(event.retry_in)}`
    case "refused":
      return `${tag}${event.url} refused the session (${event.message}), routing again in ${seconds(event.retry_in)}`
    case "created":
      return `${tag}created session ${event.session_id} on ${event.url}, ${expiresIn(event.expiration, now)}`
    case "pinged":
      return `${tag}pinged session ${event.session_id}, ${expiresIn(event.expiration, now)}`
    case "holding":
      return `holding ${event.sessions} session(s) for ${seconds(event.seconds)}`
    case "ending":
      return `${tag}ending session ${event.session_id} on ${event.url}`
    case "ended":
      return `${tag}ended session ${event.session_id}`
    case "end_retry":
      return `${tag}ending session ${event.session_id} failed (${withoutOperation("session/end", event.message)}; ${event.attempt} of at most ${ROUTE_ATTEMPTS}), ending again in ${seconds(event.retry_in)}`
    case "closed":
      return `${tag}session ${event.session_id} closed: ${event.reason}`
    case "error":
      return tag + operationErrorLine(event.fatal ? "error" : "warning", event.operation, event.message)
    case "interrupted":
      return "interrupted: no new reservations; ending any open sessions before exiting"
    case "shutdown":
      return `stopping: ending ${event.open} open session(s)`
    case "in_flight":
      return `stopping: waiting for ${inFlightCalls(event.creates, event.ends)} already sent (${inFlightBounds(event.creates, event.ends)})`
    case "done":
      return `${event.interrupted ? "done (interrupted)" : "done"}: ${event.created} created, ${event.ended} ended, ${event.closed} closed by the worker, ${goneWith(event.gone_with_worker)}${afterCut(event.closed_after_cut)}${event.failures} failure(s)`
  }
}
