/**
 * The public worker API on `WORKER_PORT` (vast-protocol.md §2): session create/end/get/health, the null
 * worker's one handler route `/ping`, and `/pyworker/update`. The webhook port serves `/session/end` alone.
 */
import { Effect, Either, Option, Redacted, Schema } from "effect"
import { AuthDataFields, costOf } from "../../protocol/authData.js"
import { keepPayload, type KeptPayload, keptCallbackBytes, LONGEST_CLOSE, MAX_CALLBACK_BYTES, NO_PAYLOAD } from "../../protocol/callback.js"
import { decodeCreateSessionFast } from "./createSessionFastPath.js"
import {
  type CreateSessionAnswer,
  CreateSessionBody,
  DEFAULT_LIFETIME_SECONDS,
  HandlerRequestBody,
  type PingAnswer,
  type SessionHealthAnswer,
  SessionRefBody
} from "../../protocol/session.js"
import { stringEqualsSecret } from "../../shared/secretEquals.js"
import { headerText } from "../../shared/headerText.js"
import { SignatureVerifier } from "../auth/SignatureVerifier.js"
import { LoadMetrics, PING_WORKLOAD } from "../autoscaler/LoadMetrics.js"
import { noHttpDestination } from "../callbacks/noHttpDestination.js"
import { parsedTargetsSelf, WorkerSelf } from "../callbacks/selfTarget.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import {
  ForceUpdateFailed,
  InvalidField,
  type InvalidJson,
  type InvalidSession,
  MissingSessionId,
  type RouteError,
  type SessionAuthMismatch,
  SessionDoesNotExist,
  Unauthorized
} from "../errors.js"
import { writeMarkerFile } from "../lifecycle/markerFile.js"
import { StopSignal } from "../lifecycle/StopSignal.js"
import { SlotPool } from "../slots/SlotPool.js"
import { bodyDecoder } from "./decode.js"
import { json, type WireResponse } from "./errorResponse.js"
import type { RouteTable, WireRequest, WireRoute } from "./WireServer.js"

const toSeconds = (millis: number): number => millis / 1000

const decodeCreate = bodyDecoder(CreateSessionBody, decodeCreateSessionFast)
/** A create's `auth_data` alone, whatever else it asked: its signature decides whether its refusal is reported. */
const decodeAuthData = bodyDecoder(Schema.Struct({ auth_data: AuthDataFields }))
const decodeRef = bodyDecoder(SessionRefBody)
const decodeHandler = bodyDecoder(HandlerRequestBody)

/** `session_id` and `session_auth` of a `/session/*` body; a missing or empty id is the framework's 422. */
const sessionRef = (body: unknown): Either.Either<{ readonly sessionId: string; readonly sessionAuth: unknown }, MissingSessionId | InvalidField | InvalidJson> =>
  Either.flatMap(decodeRef(body), ({ session_auth, session_id }): Either.Either<{ readonly sessionId: string; readonly sessionAuth: unknown }, MissingSessionId | InvalidField> => {
    if (session_id === undefined || session_id === null || session_id === "") return Either.left(new MissingSessionId())
    if (typeof session_id !== "string") return Either.left(new InvalidField({ field: "session_id", message: "session_id: must be a string" }))
    return Either.right({ sessionId: session_id, sessionAuth: session_auth })
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
  const self = yield* WorkerSelf

  /**
   * The `on_close_route`, and its payload kept as the text its callback is made from: checked now, so that a session
   * never holds an undeliverable callback.
   */
  const keptCallback = (routeUrl: string | null, payload: unknown): Either.Either<KeptPayload, InvalidField> => {
    if (routeUrl === null) return Either.right(NO_PAYLOAD)
    // An http(s) URL: the payload's schema has checked it.
    const route = new URL(routeUrl)
    if (parsedTargetsSelf(route, self)) {
      return Either.left(new InvalidField({ field: "payload.on_close_route", message: "payload.on_close_route: must not point at this worker's own ports" }))
    }
    const unreachable = noHttpDestination(route.hostname)
    if (unreachable !== null) return Either.left(new InvalidField({ field: "payload.on_close_route", message: `payload.on_close_route: ${unreachable}` }))
    let kept: KeptPayload
    try {
      kept = keepPayload(payload)
    } catch {
      return Either.left(new InvalidField({ field: "payload.on_close_payload", message: "payload.on_close_payload: cannot be sent as JSON" }))
    }
    // Its text as written again, not as received: `1e21` comes back as `1e+21`, so a body under the limit can make a callback over it.
    return keptCallbackBytes(kept, LONGEST_CLOSE) <= MAX_CALLBACK_BYTES
      ? Either.right(kept)
      : Either.left(new InvalidField({ field: "payload.on_close_payload", message: `payload.on_close_payload: the callback body would exceed ${MAX_CALLBACK_BYTES} bytes` }))
  }

  // The session routes are synchronous: each answers with an Either (itself an Effect), so the wire server
  // runs no fiber for them. On this path a fiber and its steps measured more than the work itself
  // (docs/performance.md). `/session/create` and `/session/end` are written as plain steps, one early return per
  // refusal: under a flood of 429s they run tens of thousands of times a second.
  /**
   * A create refused for what it asked, not for this worker's state: said to the autoscaler as over if its signature
   * holds (`unsafeCreateInvalid`); one that fails the check is nobody's demand.
   */
  const refuseInvalid = (body: unknown, refusal: InvalidField | InvalidJson): Either.Either<never, RouteError> => {
    const signed = Either.flatMap(decodeAuthData(body), ({ auth_data }) => Either.map(verifier.verify(auth_data), () => auth_data))
    if (Either.isRight(signed)) metrics.unsafeCreateInvalid(signed.right.request_idx)
    return Either.left(refusal)
  }
  /** The same, for a create whose signature has been checked. */
  const refusedSigned = (body: CreateSessionBody, refusal: InvalidField): Either.Either<never, RouteError> => {
    metrics.unsafeCreateInvalid(body.auth_data.request_idx)
    return Either.left(refusal)
  }

  const createSession = (request: WireRequest): Either.Either<WireResponse, RouteError> => {
    const decoded = decodeCreate(request.body)
    if (Either.isLeft(decoded)) return refuseInvalid(request.body, decoded.left)
    const body = decoded.right
    // A request that fails the signature check is nobody's demand: it does not reach the load counters.
    const verified = verifier.verify(body.auth_data)
    if (Either.isLeft(verified)) return Either.left(verified.left)
    const payload = body.payload
    const onCloseRoute = payload?.on_close_route ?? null
    const callback = keptCallback(onCloseRoute, payload?.on_close_payload ?? null)
    if (Either.isLeft(callback)) return refusedSigned(body, callback.left)
    const created = pool.unsafeCreate({
      authData: rawAuthData(request.body),
      cost: costOf(body.auth_data),
      requestIdx: body.auth_data.request_idx,
      lifetimeMs: (payload?.lifetime ?? DEFAULT_LIFETIME_SECONDS) * 1000,
      onCloseRoute,
      onClosePayload: callback.right
    })
    if (Either.isLeft(created)) return created.left._tag === "InvalidField" ? refusedSigned(body, created.left) : Either.left(created.left)
    const answer: CreateSessionAnswer = { session_id: created.right.sessionId, expiration: toSeconds(created.right.expiresAt), generation: created.right.generation }
    return Either.right(json(201, answer))
  }

  const endSession = (request: WireRequest): Either.Either<WireResponse, RouteError> => {
    const ref = sessionRef(request.body)
    if (Either.isLeft(ref)) return Either.left(ref.left)
    const ended = pool.unsafeEnd(ref.right.sessionId, ref.right.sessionAuth)
    if (Either.isLeft(ended)) return Either.left(ended.left)
    return Either.right(json(200, { ended: true, removed_session: ref.right.sessionId }))
  }

  const getSession = (request: WireRequest) =>
    Either.flatMap(sessionRef(request.body), ({ sessionAuth, sessionId }) =>
      Either.flatMap(pool.unsafeFind(sessionId, sessionAuth), (found) => {
        if (Option.isNone(found)) return Either.left(new SessionDoesNotExist())
        const session = found.value
        const fields = json(200, {
          lifetime: toSeconds(session.lifetimeMs),
          expiration: toSeconds(session.expiresAt),
          created_at: toSeconds(session.createdAt),
          on_close_route: session.onCloseRoute
        })
        // `auth_data` and the payload joined as the kept texts they are (what writing them again would give), in the
        // framework's order: parsed again for every call, a large payload would hold the event loop each time.
        const body =
          `{"session_id":${JSON.stringify(session.id)},"auth_data":${session.authDataText},` +
          `${fields.body?.slice(1, -1)},"on_close_payload":${session.onClosePayload.text}}`
        return Either.right({ ...fields, body })
      })
    )

  const sessionHealth = (request: WireRequest) =>
    Either.flatMap(sessionRef(request.body), ({ sessionAuth, sessionId }) =>
      Either.map(pool.unsafeFind(sessionId, sessionAuth), (found) => json(200, { ok: Option.isSome(found) } satisfies typeof SessionHealthAnswer.Type))
    )

  /** The null worker's one handler: a no-op that, inside a session, keeps the session alive. */
  const ping = (request: WireRequest) =>
    Either.flatMap(decodeHandler(request.body), (body) => {
      const sessionId = body.session_id ?? null
      // Inside a session the pool then matches `auth_data` with the one its create verified, so a key replaced since
      // still counts there.
      const verified = sessionId === null ? verifier.verify(body.auth_data) : verifier.verifyInSession(body.auth_data)
      return Either.flatMap(verified, (): Either.Either<WireResponse, InvalidSession | SessionAuthMismatch> => {
        let answer: PingAnswer = { result: { ok: true } }
        if (sessionId === null) {
          metrics.unsafeRequestServed({ requestIdx: body.auth_data.request_idx, workload: PING_WORKLOAD })
        } else {
          const pinged = pool.unsafePing(sessionId, rawAuthData(request.body))
          if (Either.isLeft(pinged)) {
            if (pinged.left._tag === "SessionAuthMismatch") metrics.unsafeSessionRequestRejected(PING_WORKLOAD)
            return Either.left(pinged.left)
          }
          metrics.unsafeSessionRequestServed(PING_WORKLOAD)
          answer = { ...answer, expiration: toSeconds(pinged.right.expiresAt) }
        }
        return Either.right(json(200, pool.unsafeServing() ? answer : { ...answer, draining: true }))
      })
    })

  /**
   * `/pyworker/update`: with the master token (`Authorization: Bearer <MASTER_TOKEN>`, or the bare token),
   * create the marker file an external supervisor watches, then stop gracefully (drain) so that it can
   * restart the worker.
   */
  const pyworkerUpdate = (request: WireRequest) =>
    Effect.gen(function* () {
      const header = headerText(request.headers["authorization"] ?? "")
      const token = header?.startsWith("Bearer ") === true ? header.slice("Bearer ".length) : header
      if (token === undefined || !stringEqualsSecret(token, Redacted.value(config.masterToken))) return yield* new Unauthorized()
      // Not through Node's file thread pool: a FIFO put in the marker's place would hold one of its threads for good.
      yield* Effect.try({
        try: () => writeMarkerFile(config.forceUpdateFile, "", Option.toArray(config.outboxFile)),
        catch: (error) => new ForceUpdateFailed({ reason: error instanceof Error ? error.message : String(error) })
      }).pipe(
        // An update asked for with the right token that does nothing must leave a trace on the instance.
        Effect.tapError((failed) =>
          Effect.logWarning("update requested, but its marker could not be written: not stopping", { marker: config.forceUpdateFile, reason: failed.reason })
        )
      )
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
