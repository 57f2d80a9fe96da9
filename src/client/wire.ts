/**
 * What the client sends to and reads from Vast's webserver, the autoscaler and the workers
 * (vast-protocol.md §8), as Schemas. Every answer is decoded with one of these before it is used.
 */
import { Schema } from "effect"

export { EndpointList, EndpointRecord, EndpointSettingsList, EndpointSettingsRecord } from "../protocol/endpoint.js"

/** `POST /session/health` with a session id no worker holds: the cheapest call a worker answers. */
export const SessionHealthProbe = Schema.Struct({ session_id: Schema.String })

export { RouteAnswer, RouteReady, RouteRequest, RouteWaiting, routeAnswerNamesWorker } from "../protocol/route.js"

export {
  CreateSessionRequest,
  EndSessionReply as EndSessionAnswer,
  PingRequest,
  SessionInfoReply as SessionInfoAnswer,
  SessionRefRequest
} from "../protocol/session.js"
export { CreateSessionAnswer } from "../protocol/session.js"
