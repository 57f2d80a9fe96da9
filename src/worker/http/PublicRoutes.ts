/**
 * The public worker API on `WORKER_PORT` (vast-protocol.md §2): session create/end/get/health, the null
 * worker's one handler route `/ping`, and `/pyworker/update`. The webhook port serves `/session/end` alone.
 */
import { writeFile } from "node:fs/promises"
import { Effect, Option, Redacted } from "effect"
import { costOf } from "../../protocol/authData.js"
import { callbackText } from "../../protocol/callback.js"
import {
  type CreateSessionAnswer,
  CreateSessionBody,
  DEFAULT_LIFETIME_SECONDS,
  HandlerRequestBody,
  type PingAnswer,
  SessionRefBody
} from "../../protocol/session.js"
import { stringEqualsSecret } from "../../shared/secretEquals.js"
import { SignatureVerifier } from "../auth/SignatureVerifier.js"
import { LoadMetrics, PING_WORKLOAD } from "../autoscaler/LoadMetrics.js"
import { selfAddresses, targetsSelf } from "../callbacks/selfTarget.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import {
  ForceUpdateFailed,
  InvalidField,
  type InvalidJson,
  type InvalidSession,
  MissingSessionId,
  type SessionAuthMismatch,
  SessionDoesNotExist,
  Unauthorized
} from "../errors.js"
import { StopSignal } from "../lifecycle/StopSignal.js"
import { SlotPool } from "../slots/SlotPool.js"
import { bodyDecoder } from "./decode.js"
import { json } from "./errorResponse.js"
import type { RouteTable, WireRequest, WireRoute } from "./WireServer.js"

const toSeconds = (millis: number): number => millis / 1000

/** The largest callback body a session may carry. */
const MAX_CALLBACK_BYTES = 1024 * 1024

const decodeCreate = bodyDecoder(CreateSessionBody)
const decodeRef = bodyDecoder(SessionRefBody)
const decodeHandler = bodyDecoder(HandlerRequestBody)

/** `session_id` and `session_auth` of a `/session/*` body; a missing or empty id is the framework's 422. */
const sessionRef = (body: unknown): Effect.Effect<{ readonly sessionId: string; readonly sessionAuth: unknown }, MissingSessionId | InvalidField | InvalidJson> =>
  Effect.flatMap(decodeRef(body), ({ session_auth, session_id }): Effect.Effect<{ readonly sessionId: string; readonly sessionAuth: unknown }, MissingSessionId | InvalidField> => {
    if (session_id === undefined || session_id === null || session_id === "") return Effect.fail(new MissingSessionId())
    if (typeof session_id !== "string") return Effect.fail(new InvalidField({ field: "session_id", message: "session_id: must be a string" }))
    return Effect.succeed({ sessionId: session_id, sessionAuth: session_auth })
  })

/** The raw `auth_data` as parsed: digests and `/session/get` use it as it came (odd keys such as `__proto__` included). */
const rawAuthData = (body: unknown): unknown =>
  typeof body === "object" && body !== null && Object.hasOwn(body, "auth_data") ? Object.getOwnPropertyDescriptor(body, "auth_data")?.value : undefined

const route = (method: "GET" | "POST", handle: WireRoute["handle"], body: WireRoute["body"] = "json"): WireRoute => ({ method, body, handle })

export const publicRoutes = Effect.gen(function* () {
  const config = yield* WorkerConfig
  const pool = yield* SlotPool
  const metrics = yield* LoadMetrics
  const verifier = yield* SignatureVerifier
  const stop = yield* StopSignal
  const worker = new URL(config.workerUrl)
  const self = selfAddresses({
    publicIp: worker.hostname,
    ports: [config.workerPort, config.workerHttpPort, config.controlPort, Number(worker.port)]
  })

  /** The `on_close_route` and its body, checked now so that a session never holds an undeliverable callback. */
  const checkCallback = (routeUrl: string | null, payload: unknown) =>
    Effect.suspend(() => {
      if (routeUrl === null) return Effect.void
      if (targetsSelf(routeUrl, self)) {
        return Effect.fail(new InvalidField({ field: "payload.on_close_route", message: "payload.on_close_route: must not point at this worker's own ports" }))
      }
      const text = Effect.try({
        try: () => callbackText(payload, { sessionId: "x".repeat(13), reason: "shutdown", generation: Number.MAX_SAFE_INTEGER, expiredBy: "lifetime" }),
        catch: () => new InvalidField({ field: "payload.on_close_payload", message: "payload.on_close_payload: cannot be sent as JSON" })
      })
      return Effect.filterOrFail(
        text,
        (body) => Buffer.byteLength(body) <= MAX_CALLBACK_BYTES,
        () => new InvalidField({ field: "payload.on_close_payload", message: `payload.on_close_payload: the callback body would exceed ${MAX_CALLBACK_BYTES} bytes` })
      )
    })

  // The session routes are written as flat pipelines rather than `Effect.gen`: on this path a generator
  // step measured ~1 µs, a `flatMap` ~0.3 µs (docs/performance.md).
  const createSession = (request: WireRequest) =>
    decodeCreate(request.body).pipe(
      // A request that fails the signature check is nobody's demand: it does not reach the load counters.
      Effect.tap((body) => verifier.verify(body.auth_data)),
      Effect.tap((body) => checkCallback(body.payload?.on_close_route ?? null, body.payload?.on_close_payload ?? null)),
      Effect.flatMap((body) =>
        pool.create({
          authData: rawAuthData(request.body),
          cost: costOf(body.auth_data),
          requestIdx: body.auth_data.request_idx,
          lifetimeMs: (body.payload?.lifetime ?? DEFAULT_LIFETIME_SECONDS) * 1000,
          onCloseRoute: body.payload?.on_close_route ?? null,
          onClosePayload: body.payload?.on_close_payload ?? null
        })
      ),
      Effect.map((created) => {
        const answer: CreateSessionAnswer = { session_id: created.sessionId, expiration: toSeconds(created.expiresAt), generation: created.generation }
        return json(201, answer)
      })
    )

  const endSession = (request: WireRequest) =>
    Effect.flatMap(sessionRef(request.body), ({ sessionAuth, sessionId }) =>
      Effect.as(pool.end(sessionId, sessionAuth), json(200, { ended: true, removed_session: sessionId }))
    )

  const getSession = (request: WireRequest) =>
    Effect.gen(function* () {
      const { sessionAuth, sessionId } = yield* sessionRef(request.body)
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

  const sessionHealth = (request: WireRequest) =>
    Effect.flatMap(sessionRef(request.body), ({ sessionAuth, sessionId }) =>
      Effect.map(pool.find(sessionId, sessionAuth), (found) => json(200, { ok: Option.isSome(found) }))
    )

  /** The null worker's one handler: a no-op that, inside a session, keeps the session alive. */
  const ping = (request: WireRequest) =>
    decodeHandler(request.body).pipe(
      Effect.tap((body) => verifier.verify(body.auth_data)),
      Effect.flatMap((body): Effect.Effect<PingAnswer, InvalidSession | SessionAuthMismatch> => {
        const sessionId = body.session_id ?? null
        if (sessionId === null) {
          return Effect.as(metrics.requestServed({ requestIdx: body.auth_data.request_idx, workload: PING_WORKLOAD }), { result: { ok: true } })
        }
        return pool.ping(sessionId, rawAuthData(request.body)).pipe(
          Effect.tapErrorTag("SessionAuthMismatch", () => metrics.sessionRequestRejected(PING_WORKLOAD)),
          Effect.zipLeft(metrics.sessionRequestServed(PING_WORKLOAD)),
          Effect.map((session) => ({ result: { ok: true }, expiration: toSeconds(session.expiresAt) }))
        )
      }),
      Effect.zipWith(pool.mode, (answer, mode) => json(200, mode === "serving" ? answer : { ...answer, draining: true }))
    )

  /**
   * `/pyworker/update`: with the master token (`Authorization: Bearer <MASTER_TOKEN>`, or the bare token),
   * create the marker file an external supervisor watches, then stop gracefully (drain) so that it can
   * restart the worker.
   */
  const pyworkerUpdate = (request: WireRequest) =>
    Effect.gen(function* () {
      const header = request.headers["authorization"] ?? ""
      const token = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : header
      if (!stringEqualsSecret(token, Redacted.value(config.masterToken))) return yield* new Unauthorized()
      yield* Effect.tryPromise({
        try: () => writeFile(config.forceUpdateFile, ""),
        catch: (error) => new ForceUpdateFailed({ reason: error instanceof Error ? error.message : String(error) })
      })
      yield* Effect.logInfo("update requested: draining, then stopping", { marker: config.forceUpdateFile })
      yield* stop.request("pyworker update")
      return json(200, { ok: true })
    })

  const end = route("POST", endSession)
  const table: RouteTable = new Map([
    ["/session/create", route("POST", createSession)],
    ["/session/end", end],
    ["/session/get", route("POST", getSession)],
    ["/session/health", route("POST", sessionHealth)],
    ["/ping", route("POST", ping)],
    ["/pyworker/update", route("POST", pyworkerUpdate, "none")]
  ])
  const webhook: RouteTable = new Map([["/session/end", end]])
  return { public: table, webhook }
})
