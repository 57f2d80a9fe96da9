/**
 * The one place where failures become HTTP answers. Status codes and bodies follow the Vast protocol
 * (vast-protocol.md §2); answers the protocol leaves open are JSON `{"error": …}` naming the problem.
 */
import { HttpServerResponse } from "@effect/platform"
import { json } from "../../shared/jsonResponse.js"
import type {
  BodyTooLarge,
  ForceUpdateFailed,
  InvalidField,
  InvalidJson,
  InvalidSession,
  MissingSessionId,
  SessionAlreadyClosed,
  SessionAuthInvalid,
  SessionAuthMismatch,
  SessionDoesNotExist,
  SessionNotFound,
  SignatureInvalid,
  SlotsExhausted,
  Unauthorized
} from "./errors.js"

export { json }

export type RouteError =
  | BodyTooLarge
  | ForceUpdateFailed
  | InvalidField
  | InvalidJson
  | InvalidSession
  | MissingSessionId
  | SessionAlreadyClosed
  | SessionAuthInvalid
  | SessionAuthMismatch
  | SessionDoesNotExist
  | SessionNotFound
  | SignatureInvalid
  | SlotsExhausted
  | Unauthorized


export const errorResponse = (error: RouteError): HttpServerResponse.HttpServerResponse => {
  switch (error._tag) {
    case "InvalidJson":
      return json(422, { error: "invalid JSON" })
    case "BodyTooLarge":
      return json(413, { error: `request body is larger than ${error.limit} bytes` })
    case "InvalidField":
      return json(422, { error: error.message, field: error.field })
    case "MissingSessionId":
      return json(422, { error: "missing session_id" })
    case "SessionNotFound":
      return json(400, { error: `session with id ${error.sessionId} not found` })
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
      return HttpServerResponse.empty({ status: 429 })
    case "SignatureInvalid":
      return HttpServerResponse.empty({ status: 401 })
    case "Unauthorized":
      return json(401, { error: "unauthorized" })
    case "ForceUpdateFailed":
      return json(500, { error: `failed to write file: ${error.reason}` })
  }
}
