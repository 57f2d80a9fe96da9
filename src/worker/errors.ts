/**
 * Every failure a route can answer with. Each is a fact about the request; `src/worker/http/errorResponse.ts`
 * maps each to its status and body, once.
 */
import { Data } from "effect"
import type { HostProblem } from "../shared/hostHeader.js"

/** The body is not JSON at all. */
export class InvalidJson extends Data.TaggedError("InvalidJson")<{}> {}

/** The body nests arrays/objects deeper than the limit. */
export class BodyTooDeep extends Data.TaggedError("BodyTooDeep")<{ readonly limit: number }> {}

/** The body is larger than the listener accepts. */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{ readonly limit: number }> {}

/** The body came in more pieces than any client sends (1-byte chunks cost the parser ~65 times a whole body's CPU). */
export class BodyInTooManyPieces extends Data.TaggedError("BodyInTooManyPieces")<{ readonly limit: number }> {}

/** The bodies being received hold the listeners' whole budget (`bodyBudget.ts`): this one is not read. */
export class BodiesInFlightFull extends Data.TaggedError("BodiesInFlightFull")<{ readonly limit: number }> {}

/** A field is missing or ill-typed; `field` is its dotted path (`payload.lifetime`), `body` for the whole. */
export class InvalidField extends Data.TaggedError("InvalidField")<{
  readonly field: string
  readonly message: string
}> {}

/** `/session/*` without a usable `session_id` (the framework's exact 422). */
export class MissingSessionId extends Data.TaggedError("MissingSessionId")<{}> {}

/** No open session has this id (`/session/end`: 400 with the framework's wording). */
export class SessionNotFound extends Data.TaggedError("SessionNotFound")<{ readonly sessionId: string }> {}

/** `/session/get` on an unknown id (the framework words this one differently). */
export class SessionDoesNotExist extends Data.TaggedError("SessionDoesNotExist")<{}> {}

/** `session_auth` is missing or differs from the session's `auth_data`. */
export class SessionAuthInvalid extends Data.TaggedError("SessionAuthInvalid")<{}> {}

/** The session was closed already. */
export class SessionAlreadyClosed extends Data.TaggedError("SessionAlreadyClosed")<{ readonly sessionId: string }> {}

/** A handler request names a session this worker does not hold (`/ping`: 410). */
export class InvalidSession extends Data.TaggedError("InvalidSession")<{}> {}

/** A handler request's `auth_data` is not the session's own. */
export class SessionAuthMismatch extends Data.TaggedError("SessionAuthMismatch")<{}> {}

/** Every slot holds a session, or the worker takes no new ones (draining, recycled, errored): 429, empty body. */
export class SlotsExhausted extends Data.TaggedError("SlotsExhausted")<{ readonly reason: "full" | "draining" | "recycled" | "errored" }> {}

/** The callback outbox has no room to promise another delivery (503). */
export class OutboxFull extends Data.TaggedError("OutboxFull")<{ readonly limit: string }> {}

/** A `/release` for a session that is not open (an old job's late release): 409, nothing closes. */
export class ReleaseNotOpen extends Data.TaggedError("ReleaseNotOpen")<{ readonly target: string }> {}

/** The autoscaler signature is missing, malformed or wrong, or the key is not loaded yet (401, empty body). */
export class SignatureInvalid extends Data.TaggedError("SignatureInvalid")<{}> {}

/** `/pyworker/update` without the master token (an empty token never authorizes). */
export class Unauthorized extends Data.TaggedError("Unauthorized")<{}> {}

/**
 * The body comes in a coding this server does not decode: a `Content-Encoding` other than `identity` (415), or a
 * `Transfer-Encoding` with a coding besides `chunked` (501, RFC 9112 §6.1). Read as it is, it would be taken for text.
 */
export class UnsupportedCoding extends Data.TaggedError("UnsupportedCoding")<{ readonly field: "content-encoding" | "transfer-encoding" }> {}

/**
 * A control request from a web page (an `Origin` header, or `Sec-Fetch-Site` other than `none`), or addressed to a name
 * that is not this machine's (`Host`, a DNS rebinding page): 403, naming the header (`src/worker/http/localOnly.ts`).
 */
export class NotLocalRequest extends Data.TaggedError("NotLocalRequest")<{
  readonly field: "origin" | "sec-fetch-site" | "host" | "user-agent"
  readonly message: string
}> {}

/**
 * What Node's HTTP parser refused before any route saw the request: a malformed request line, header or chunk
 * (`reason`: the parser's words), headers past its limit, or a request that did not arrive in its time. Node's own
 * answers to these have no body; ours say which it was, as every other refusal does.
 */
export class MalformedRequest extends Data.TaggedError("MalformedRequest")<{ readonly reason: string }> {}
export class HeadersTooLarge extends Data.TaggedError("HeadersTooLarge")<{}> {}
export class RequestTimedOut extends Data.TaggedError("RequestTimedOut")<{}> {}

/** `CONNECT`: a tunnel, which no worker port serves (501). */
export class TunnelNotServed extends Data.TaggedError("TunnelNotServed")<{}> {}
/** An `Expect` header other than `100-continue` (RFC 9110 §10.1.1: 417). */
export class UnsupportedExpectation extends Data.TaggedError("UnsupportedExpectation")<{}> {}
/**
 * A request whose `Host` a server must answer 400 (RFC 9112 §3.2): `missing` from an HTTP/1.1 request (HTTP/1.0 need
 * not send one), or `repeated` (which of two hosts it meant cannot be known).
 */
export class BadHost extends Data.TaggedError("BadHost")<{ readonly problem: HostProblem }> {}

/** `/pyworker/update` could not create its marker file. */
export class ForceUpdateFailed extends Data.TaggedError("ForceUpdateFailed")<{ readonly reason: string }> {}

/**
 * A costly control answer (`/debug`, `/metrics`) asked for on a connection that holds an answer its client has not
 * taken: 429. Pipelined and never read, each was built anyway, seconds of the main thread for a few hundred (probe 52 L4).
 */
export class AnswerNotTaken extends Data.TaggedError("AnswerNotTaken")<{ readonly path: string }> {}

export type RouteError =
  | InvalidJson
  | BodyTooDeep
  | BodyTooLarge
  | BodyInTooManyPieces
  | BodiesInFlightFull
  | InvalidField
  | MissingSessionId
  | SessionNotFound
  | SessionDoesNotExist
  | SessionAuthInvalid
  | SessionAlreadyClosed
  | InvalidSession
  | SessionAuthMismatch
  | SlotsExhausted
  | OutboxFull
  | ReleaseNotOpen
  | SignatureInvalid
  | Unauthorized
  | NotLocalRequest
  | UnsupportedCoding
  | MalformedRequest
  | HeadersTooLarge
  | RequestTimedOut
  | TunnelNotServed
  | UnsupportedExpectation
  | BadHost
  | ForceUpdateFailed
  | AnswerNotTaken

/**
 * The refusals a busy or hostile client triggers thousands of times a second, made once: constructing an
 * Error (and capturing its stack) per refusal measured ~9 % of the CPU of the 429 path, and the stack of
 * an expected refusal says nothing. They carry no per-request data, so one instance of each serves all.
 */
export const refusals = {
  full: new SlotsExhausted({ reason: "full" }),
  draining: new SlotsExhausted({ reason: "draining" }),
  recycled: new SlotsExhausted({ reason: "recycled" }),
  errored: new SlotsExhausted({ reason: "errored" }),
  sessionAuthInvalid: new SessionAuthInvalid(),
  invalidSession: new InvalidSession(),
  sessionAuthMismatch: new SessionAuthMismatch(),
  invalidJson: new InvalidJson(),
  signatureInvalid: new SignatureInvalid()
} as const
