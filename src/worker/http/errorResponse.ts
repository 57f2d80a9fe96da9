/**
 * The one place where failures become HTTP answers. Status codes and bodies follow the Vast protocol
 * (vast-protocol.md §2); answers the protocol leaves open are JSON `{"error": …}` naming the problem.
 */
import { echoedId } from "../../protocol/SessionId.js"
import { jsonText } from "../../shared/exactJson.js"
import { hostProblemMessage } from "../../shared/hostHeader.js"
import type { RouteError } from "../errors.js"

/** An answer: status, a JSON (or other) body, or `null` for an empty one. */
export interface WireResponse {
  readonly status: number
  readonly body: string | null
  readonly contentType?: string
  readonly headers?: Readonly<Record<string, string>>
}

/** A JSON answer; an `auth_data` or payload echoed back keeps its integers past 2^53 as they came. */
export const json = (status: number, body: unknown): WireResponse => ({ status, body: jsonText(body) ?? null })

/** An answer with no body (the framework's `Response(status=N)`). */
export const empty = (status: number): WireResponse => ({ status, body: null })

export const text = (status: number, body: string, contentType = "text/plain; charset=utf-8"): WireResponse => ({
  status,
  body,
  contentType
})

export const errorResponse = (error: RouteError): WireResponse => {
  switch (error._tag) {
    case "InvalidJson":
      return json(422, { error: "invalid JSON" })
    case "BodyTooDeep":
      return json(422, { error: `invalid JSON: nested deeper than ${error.limit} levels`, field: "body" })
    case "BodyTooLarge":
      return json(413, { error: `request body is larger than ${error.limit} bytes` })
    case "BodyInTooManyPieces":
      return json(400, { error: `request body came in more than ${error.limit} pieces; send it in larger chunks` })
    case "BodiesInFlightFull":
      return json(503, { error: `request bodies being received hold ${error.limit} bytes, the most this worker reads at once; try again` })
    case "InvalidField":
      return json(422, { error: error.message, field: error.field })
    case "MissingSessionId":
      return json(422, { error: "missing session_id" })
    case "SessionNotFound":
      return json(400, { error: `session with id ${echoedId(error.sessionId)} not found` })
    case "SessionDoesNotExist":
      return json(400, { error: "session does not exist" })
    case "SessionAuthInvalid":
      return json(401, { error: "session_auth is not valid" })
    case "SessionAlreadyClosed":
      return json(410, { error: "session already closed" })
    case "InvalidSession":
      return json(410, { error: "invalid session" })
    case "SessionAuthMismatch":
      return json(401, { error: "auth_data does not match the session" })
    case "SlotsExhausted":
      return empty(429)
    case "OutboxFull":
      return json(503, { error: `the callback outbox is full (${error.limit} pending or kept for open sessions); try another worker` })
    case "ReleaseNotOpen":
      return json(409, { released: false, reason: `${error.target} is not open` })
    case "SignatureInvalid":
      return empty(401)
    case "Unauthorized":
      return json(401, { error: "unauthorized" })
    case "UnsupportedCoding":
      return error.field === "content-encoding"
        ? json(415, { error: "content-encoding: the body must not be encoded (identity only)", field: error.field })
        : json(501, { error: "transfer-encoding: only chunked is understood", field: error.field })
    case "NotLocalRequest":
      return json(403, { error: error.message, field: error.field })
    case "MalformedRequest":
      return json(400, { error: `malformed request: ${error.reason}` })
    case "HeadersTooLarge":
      return json(431, { error: "request headers too large" })
    case "RequestTimedOut":
      return json(408, { error: "the request did not arrive in time" })
    case "TunnelNotServed":
      return json(501, { error: "CONNECT is not served: this is not a proxy" })
    case "UnsupportedExpectation":
      return json(417, { error: "expect: only 100-continue is understood", field: "expect" })
    case "BadHost":
      return json(400, { error: hostProblemMessage[error.problem], field: "host" })
    case "ForceUpdateFailed":
      return json(500, { error: `failed to write file: ${error.reason}` })
    case "AnswerNotTaken":
      return json(429, { error: `${error.path}: an earlier answer on this connection has not been read yet; read it before asking again` })
  }
}
