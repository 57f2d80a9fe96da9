/**
 * The public worker API on `WORKER_PORT` (vast-protocol.md §2): session create/end/get/health and the
 * null worker's one handler route, `/ping`. The webhook port serves `sessionEndRoute` alone.
 */
import { writeFile } from "node:fs/promises"
import { HttpRouter, HttpServerRequest, type HttpServerResponse } from "@effect/platform"
import { Effect, Option, Redacted, type Schema } from "effect"
import { SignatureVerifier } from "../auth/SignatureVerifier.js"
import { LoadMetrics, PING_WORKLOAD } from "../autoscaler/LoadMetrics.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import {
  ForceUpdateFailed,
  InvalidField,
  MissingSessionId,
  SessionDoesNotExist,
  Unauthorized
} from "./errors.js"
import { stringEqualsSecret } from "../../shared/secretEquals.js"
import {
  CreateSessionBody,
  DEFAULT_LIFETIME_SECONDS,
  HandlerRequestBody,
  SessionRefBody,
  costOf
} from "../../protocol/session.js"
import { SlotPool } from "../slots/SlotPool.js"
import { decodeBody, readJsonBody } from "./body.js"
import { type RouteError, errorResponse, json } from "./errorResponse.js"
import { withFallback } from "./routeFallback.js"

const toSeconds = (millis: number): number => millis / 1000

const bodyOf = <A, I>(schema: Schema.Schema<A, I>) =>
  Effect.flatMap(WorkerConfig, ({ maxBodyBytes }) => Effect.flatMap(readJsonBody(maxBodyBytes), decodeBody(schema)))

/** `session_id` and `session_auth` of a `/session/*` body; a missing or empty id is the framework's 422. */
interface SessionRef {
  readonly sessionId: string
  readonly sessionAuth: unknown
}

const sessionRef = Effect.flatMap(bodyOf(SessionRefBody), ({ session_auth, session_id }): Effect.Effect<SessionRef, MissingSessionId | InvalidField> => {
  if (session_id === undefined || session_id === null || session_id === "") return Effect.fail(new MissingSessionId())
  if (typeof session_id !== "string") {
    return Effect.fail(new InvalidField({ field: "session_id", message: "session_id: must be a string" }))
  }
  return Effect.succeed({ sessionId: session_id, sessionAuth: session_auth })
})

const createSession = Effect.gen(function* () {
  const body = yield* bodyOf(CreateSessionBody)
  const verifier = yield* SignatureVerifier
  const metrics = yield* LoadMetrics
  const cost = costOf(body.auth_data)
  yield* verifier.verify(body.auth_data).pipe(
    Effect.tapError(() => metrics.sessionRejected({ requestIdx: body.auth_data.request_idx, workload: cost }))
  )
  const pool = yield* SlotPool
  const payload = body.payload ?? {}
  const onCloseRoute = payload.on_close_route ?? null
  const created = yield* pool.create({
    authData: body.auth_data,
    cost,
    requestIdx: body.auth_data.request_idx,
    lifetimeMs: (payload.lifetime ?? DEFAULT_LIFETIME_SECONDS) * 1000,
    onCloseRoute,
    onClosePayload: payload.on_close_payload ?? null
  })
  return json(201, { session_id: created.sessionId, expiration: toSeconds(created.expiresAt) })
})

const endSession = Effect.gen(function* () {
  const { sessionAuth, sessionId } = yield* sessionRef
  const pool = yield* SlotPool
  yield* pool.end(sessionId, sessionAuth)
  return json(200, { ended: true, removed_session: sessionId })
})

const getSession = Effect.gen(function* () {
  const { sessionAuth, sessionId } = yield* sessionRef
  const pool = yield* SlotPool
  const found = yield* pool.find(sessionId, sessionAuth)
  if (Option.isNone(found)) return yield* new SessionDoesNotExist()
  const session = found.value
  return json(200, {
    session_id: session.id,
    auth_data: session.authData,
    lifetime: toSeconds(session.lifetimeMs),
    expiration: toSeconds(session.expiresAt),
    created_at: toSeconds(session.createdAt),
    on_close_route: session.onCloseRoute,
    on_close_payload: session.onClosePayload
  })
})

const sessionHealth = Effect.gen(function* () {
  const { sessionAuth, sessionId } = yield* sessionRef
  const pool = yield* SlotPool
  const found = yield* pool.find(sessionId, sessionAuth)
  return json(200, { ok: Option.isSome(found) })
})

/** The null worker's one handler: a no-op that, inside a session, keeps the session alive. */
const ping = Effect.gen(function* () {
  const body = yield* bodyOf(HandlerRequestBody)
  const verifier = yield* SignatureVerifier
  const metrics = yield* LoadMetrics
  const sessionId = body.session_id ?? null
  const request = { requestIdx: body.auth_data.request_idx, workload: PING_WORKLOAD }
  yield* verifier.verify(body.auth_data).pipe(
    Effect.tapError(() =>
      sessionId === null ? metrics.requestRejected(request) : metrics.sessionRequestRejected(PING_WORKLOAD)
    )
  )
  if (sessionId === null) {
    yield* metrics.requestServed(request)
  } else {
    const pool = yield* SlotPool
    yield* pool.ping(sessionId, body.auth_data).pipe(
      Effect.tapErrorTag("SessionAuthMismatch", () => metrics.sessionRequestRejected(PING_WORKLOAD))
    )
    yield* metrics.sessionRequestServed(PING_WORKLOAD)
  }
  return json(200, { result: { ok: true } })
})

/**
 * `/pyworker/update`: with the master token (`Authorization: Bearer <MASTER_TOKEN>`, or the bare
 * token), create the marker file an external supervisor watches to update and restart the worker.
 */
const pyworkerUpdate = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const config = yield* WorkerConfig
  const header = request.headers["authorization"] ?? ""
  const token = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : header
  if (!stringEqualsSecret(token, Redacted.value(config.masterToken))) return yield* new Unauthorized()
  yield* Effect.tryPromise({
    try: () => writeFile(config.forceUpdateFile, ""),
    catch: (error) => new ForceUpdateFailed({ reason: error instanceof Error ? error.message : String(error) })
  })
  return json(200, { ok: true })
})

const answer = <R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, RouteError, R>) =>
  Effect.catchAll(handler, (error) => Effect.succeed(errorResponse(error)))

/** `POST /session/end`, shared by the public and the webhook port. */
export const sessionEndRoute = HttpRouter.post("/session/end", answer(endSession))

const publicPaths = new Map([
  ["/session/create", "POST"],
  ["/session/end", "POST"],
  ["/session/get", "POST"],
  ["/session/health", "POST"],
  ["/ping", "POST"],
  ["/pyworker/update", "POST"]
])

export const publicRouter = withFallback(
  HttpRouter.empty.pipe(
    HttpRouter.post("/session/create", answer(createSession)),
    sessionEndRoute,
    HttpRouter.post("/session/get", answer(getSession)),
    HttpRouter.post("/session/health", answer(sessionHealth)),
    HttpRouter.post("/ping", answer(ping)),
    HttpRouter.post("/pyworker/update", answer(pyworkerUpdate))
  ),
  publicPaths
)

export const webhookRouter = withFallback(HttpRouter.empty.pipe(sessionEndRoute), new Map([["/session/end", "POST"]]))
