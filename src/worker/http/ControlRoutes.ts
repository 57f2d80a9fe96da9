/**
 * The loopback control server (`127.0.0.1:NULL_CONTROL_PORT`): what processes on the instance use.
 * `/release` needs no auth because only local processes can reach it; `/debug` shows state but never a
 * secret (`session_auth`, signatures, tokens, credentials or query strings in callback URLs).
 */
import { Clock, Duration, Effect, Either, Option, Schema } from "effect"
import type { ReleaseTarget } from "../../../machines/slot.js"
import { type CloseView, GENERATION_RULE, MAX_SESSIONS_WAIT_SECONDS, RELEASE_BODY_SHAPES, ReleaseByGeneration, ReleaseBySession, type SessionsAnswer } from "../../protocol/control.js"
import { LoadMetrics } from "../autoscaler/LoadMetrics.js"
import { CallbackPoster } from "../callbacks/CallbackPoster.js"
import { DECIMAL_DIGITS, DECIMAL_FRACTION } from "../../shared/decimalText.js"
import { redactRoute, redactUrl } from "../../shared/redactUrl.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { WorkerMetrics } from "../metrics/WorkerMetrics.js"
import { InvalidField, type InvalidJson } from "../errors.js"
import { SlotPool } from "../slots/SlotPool.js"
import { bodyDecoder, notAnObject, toInvalidField } from "./decode.js"
import { json, text } from "./errorResponse.js"
import { recycleReason } from "./recycleReason.js"
import type { RouteTable, WireRequest, WireRoute } from "./WireServer.js"

const toSeconds = (millis: number): number => millis / 1000

/**
 * Long polls waiting at once, at most; one past it is answered at once, as if it had not asked to wait. A consumer
 * needs one or a few; each costs some kilobytes, and one connection can pipeline thousands.
 */
export const MAX_WAITING_POLLS = 64

const decodeByGeneration = bodyDecoder(ReleaseByGeneration)
const decodeBySession = bodyDecoder(ReleaseBySession)

/**
 * The session a `/release` body names. Decoded by the key it has, so that an error names the field the consumer
 * sent; an object with neither is refused naming the body's shapes, and one with both (which may name two sessions)
 * as ambiguous.
 */
const releaseTarget = (body: unknown): Either.Either<ReleaseTarget, InvalidField | InvalidJson> => {
  if (body === undefined || isEmptyObject(body)) return Either.right({ _tag: "Any" })
  if (typeof body !== "object" || body === null || Array.isArray(body)) return Either.left(notAnObject)
  if (Object.hasOwn(body, "generation") && Object.hasOwn(body, "session_id")) {
    return Either.left(new InvalidField({ field: "body", message: "body: names the session by generation and by session_id; give one" }))
  }
  if (Object.hasOwn(body, "generation")) return Either.map(decodeByGeneration(body), ({ generation }) => ({ _tag: "Generation", generation }))
  if (Object.hasOwn(body, "session_id")) return Either.map(decodeBySession(body), ({ session_id }) => ({ _tag: "Session", sessionId: session_id }))
  return Either.left(new InvalidField({ field: "body", message: `body: ${RELEASE_BODY_SHAPES}` }))
}

/** The most of an unknown query key a refusal shows. */
const SHOWN_KEY_MAX = 64

/** A query key a route does not take (a typo must not fall back to a default): named, but never echoed whole. */
const unknownQueryKey = (key: string, takes: string): InvalidField => {
  // A query can be as long as the request line Node accepts.
  const shown = key.length > SHOWN_KEY_MAX ? `${key.slice(0, SHOWN_KEY_MAX)}…` : key
  return shown === ""
    ? new InvalidField({ field: "query", message: `query: a parameter without a name (${takes})` })
    : new InvalidField({ field: `query.${shown}`, message: `query ${shown}: unknown parameter (${takes})` })
}

/** The keys `/sessions` reads from its query string. */
const SESSIONS_QUERY_KEYS = new Set(["index", "wait"])

const releaseNotJson = new InvalidField({ field: "body", message: `body: not JSON, so nothing was released; send no body (every open session), {}, {"generation": n} or {"session_id": "…"}` })

/** The keys `/release` reads from its query string, as from its body. */
const RELEASE_QUERY_KEYS = new Set(["generation", "session_id"])

/**
 * The session a `/release` query names (`?generation=n` or `?session_id=…`), the way `/sessions` takes its arguments.
 * Read, not ignored: a release whose query names a session must never fall back to "no body: release everything".
 * A key the route does not know, or one given twice, is refused, as is a target named in both query and body, by
 * both keys, or a query (never empty here) that names nothing.
 */
const releaseQueryTarget = (query: string, body: unknown): Either.Either<ReleaseTarget, InvalidField | InvalidJson> => {
  const params = new URLSearchParams(query)
  const fields: Record<string, unknown> = {}
  for (const [key, value] of params) {
    if (!RELEASE_QUERY_KEYS.has(key)) return Either.left(unknownQueryKey(key, "/release takes generation or session_id"))
    if (Object.hasOwn(fields, key)) return Either.left(new InvalidField({ field: `query.${key}`, message: `query ${key}: given more than once` }))
    if (key === "generation" && !DECIMAL_DIGITS.test(value)) {
      return Either.left(new InvalidField({ field: "query.generation", message: "query generation: must be a whole number in decimal digits" }))
    }
    // Past 2^53 the digits would be read as a neighbouring integer, and refused as "not an integer".
    if (key === "generation" && !Number.isSafeInteger(Number(value))) {
      return Either.left(new InvalidField({ field: "query.generation", message: `query generation: ${GENERATION_RULE}` }))
    }
    fields[key] = key === "generation" ? Number(value) : value
  }
  // A query that names nothing (`?&`) is no request to release everything: that takes no query at all.
  if (Object.keys(fields).length === 0) return Either.left(new InvalidField({ field: "query", message: "query: names no session (/release takes generation or session_id)" }))
  if (Object.keys(fields).length > 1) return Either.left(new InvalidField({ field: "query", message: "query: names the session by generation and by session_id; give one" }))
  if (body !== undefined) {
    // A body that is not an object is refused as it would be without a query; one that names a session too is ambiguous.
    if (typeof body !== "object" || body === null || Array.isArray(body)) return Either.left(notAnObject)
    if (!isEmptyObject(body)) {
      return Either.left(new InvalidField({ field: "query", message: "query: the session to release is named in both the query and the body; name it once" }))
    }
  }
  return Either.mapLeft(releaseTarget(fields), withQueryField)
}

/** A number written in decimal digits: `Number` would also read `0x10`, `1e3` and ` 7`. */
const decimal = (pattern: RegExp, what: string) =>
  Schema.compose(Schema.String.pipe(Schema.pattern(pattern, { message: () => `must be ${what}` })), Schema.NumberFromString)

const Query = Schema.Struct({
  wait: Schema.optional(
    decimal(DECIMAL_FRACTION, "a number of seconds in decimal digits").pipe(
      Schema.between(0, MAX_SESSIONS_WAIT_SECONDS, { message: () => `must be at most ${MAX_SESSIONS_WAIT_SECONDS} (seconds)` })
    )
  ),
  index: Schema.optional(
    decimal(DECIMAL_DIGITS, "a whole number in decimal digits").pipe(
      Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER, { message: () => `must be at most ${Number.MAX_SAFE_INTEGER}` })
    )
  )
})
const decodeQuery = Schema.decodeUnknownEither(Query, { errors: "first" })

const isEmptyObject = (value: unknown): boolean =>
  typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0

/** The session a `/release` names, by its query or else by its body. A release without a query, all but every one, goes straight to the body. */
const releaseRequestTarget = (request: WireRequest): Either.Either<ReleaseTarget, InvalidField | InvalidJson> =>
  request.query === "" ? releaseTarget(request.body) : releaseQueryTarget(request.query, request.body)

export const controlRoutes = Effect.gen(function* () {
  const config = yield* WorkerConfig
  const pool = yield* SlotPool
  const outbox = yield* CallbackPoster
  const metrics = yield* LoadMetrics
  const prometheus = yield* WorkerMetrics

  /**
   * No body (or `{}`): every open session closes. `{"generation": n}` or `{"session_id": "…"}`, in the body or as
   * `?generation=n` / `?session_id=…`: that one only.
   */
  const release = (request: WireRequest) =>
    // Synchronous, like the session routes: an Either needs no fiber.
    Either.flatMap(releaseRequestTarget(request), (target) =>
      Either.map(pool.unsafeRelease(target), (closed) =>
        closed.length > 0
          ? json(200, { released: true, session_ids: closed.map((close) => close.sessionId) })
          : json(200, { released: false, reason: "no active session" })
      )
    )

  const sessionsAnswer = Effect.gen(function* () {
    const open = yield* pool.open
    const mode = yield* pool.mode
    const answer: SessionsAnswer = {
      sessions: open.map((session) => ({
        session_id: session.id,
        generation: session.generation,
        created_at: toSeconds(session.createdAt),
        expires_at: toSeconds(session.expiresAt),
        cost: session.cost,
        request_idx: session.requestIdx
      })),
      draining: mode !== "serving",
      index: yield* pool.version
    }
    return json(200, answer)
  })

  let waitingPolls = 0

  /** The open sessions; with `?index=N&wait=S`, once the state differs from index `N` (or `S` seconds passed). */
  const sessions = (request: WireRequest) =>
    Effect.gen(function* () {
      const params = new URLSearchParams(request.query)
      // A key it does not take (`?wiat=30`) would make a long poll a plain read: a consumer's loop would spin on it.
      for (const key of params.keys()) if (!SESSIONS_QUERY_KEYS.has(key)) return yield* Effect.fail(unknownQueryKey(key, "/sessions takes index and wait"))
      // A key given twice is refused, as /release refuses it: which one was meant is not ours to guess.
      for (const key of SESSIONS_QUERY_KEYS) {
        if (params.getAll(key).length > 1) return yield* Effect.fail(new InvalidField({ field: `query.${key}`, message: `query ${key}: given more than once` }))
      }
      const query = decodeQuery(Object.fromEntries(params))
      if (query._tag === "Left") return yield* Effect.fail(withQueryField(toInvalidField(query.left)))
      const { index, wait } = query.right
      if (wait !== undefined && index === undefined) {
        return yield* Effect.fail(new InvalidField({ field: "query.wait", message: "query wait: needs index, the state to wait for a change from (the index of an earlier answer)" }))
      }
      if (index !== undefined && wait !== undefined && wait > 0 && waitingPolls < MAX_WAITING_POLLS && index === (yield* pool.version)) {
        waitingPolls++
        yield* pool.awaitChangeFrom(index).pipe(
          Effect.timeoutOption(Duration.seconds(wait)),
          Effect.ensuring(Effect.sync(() => waitingPolls--))
        )
      }
      return yield* sessionsAnswer
    })

  const recycle = (request: WireRequest) =>
    Effect.gen(function* () {
      const given = recycleReason(request.body)
      const reason = `Recycled by the consumer${given === "" ? "" : `: ${given}`}`
      const first = yield* metrics.markErrored(reason)
      const closed = yield* pool.recycle
      // The error reported is the first one set (a recycle's, or the health checks'): the answer names that one.
      const reported = first ? reason : (yield* metrics.snapshot).errorMsg
      yield* first
        ? Effect.logWarning("recycled: reporting the error, taking no new session", { reason, closed: closed.length })
        : Effect.logWarning("recycled again: the error already reported stays", { reason, reported, closed: closed.length })
      return json(200, { recycled: true, error_msg: reported, session_ids: closed.map((close) => close.sessionId) })
    })

  const debug = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const slots = yield* pool.slots
    const closes = yield* pool.recentCloses
    const deliveries = yield* outbox.deliveries
    const stats = yield* outbox.stats
    const load = yield* metrics.snapshot
    const backlog = yield* metrics.deletionBacklog
    // Built field by field: auth_data is the session's secret; URLs lose credentials and query strings.
    return json(200, {
      mode: yield* pool.mode,
      stopping: yield* pool.stopping,
      slots: slots.map(({ session, slot, state }) => ({
        slot,
        state,
        session:
          session === null
            ? null
            : {
                session_id: session.id,
                generation: session.generation,
                created_at: toSeconds(session.createdAt),
                expires_at: toSeconds(session.expiresAt),
                expires_by: session.limit,
                remaining_ms: Math.max(0, session.expiresAt - now),
                lifetime: toSeconds(session.lifetimeMs),
                ping_count: session.pingCount,
                cost: session.cost,
                request_idx: session.requestIdx,
                on_close_route: session.onCloseRoute === null ? null : redactRoute(session.onCloseRoute)
              }
      })),
      recent_closes: closes.map((closed): typeof CloseView.Type => ({
        session_id: closed.sessionId,
        generation: closed.generation,
        slot: closed.slot,
        reason: closed.reason,
        closed_at: toSeconds(closed.closedAt)
      })),
      callbacks: {
        pending: stats.pending,
        in_flight: stats.inFlight,
        delivered: stats.delivered,
        failed: stats.failed,
        refused_at_cap: stats.refusedAtCap,
        max_pending: stats.maxPending,
        concurrency: stats.concurrency,
        deliveries: deliveries.map((delivery) => ({
          session_id: delivery.sessionId,
          generation: delivery.generation,
          route: delivery.route,
          reason: delivery.reason,
          state: delivery.state,
          attempts: delivery.attempts,
          last_status: delivery.lastStatus,
          last_error: delivery.lastError,
          queued_at: toSeconds(delivery.queuedAt),
          next_attempt_at: delivery.nextAttemptAt === null ? null : toSeconds(delivery.nextAttemptAt),
          finished_at: delivery.finishedAt === null ? null : toSeconds(delivery.finishedAt),
          replayed: delivery.replayed
        })),
        // A journal replayed over the cap can leave tens of thousands pending: only the first `max_pending` are listed.
        pending_not_listed: Math.max(0, stats.pending - stats.maxPending)
      },
      autoscaler: {
        ready: load.ready,
        error_msg: load.errorMsg,
        cur_load: load.curLoad,
        pending_deletions: backlog.finished + backlog.refusals,
        dropped_finished_records: backlog.droppedFinished,
        dropped_refusal_records: backlog.droppedRefusals
      },
      long_polls: { waiting: waitingPolls, max: MAX_WAITING_POLLS },
      config: {
        worker_port: config.workerPort,
        worker_http_port: config.workerHttpPort,
        control_port: config.controlPort,
        max_sessions: config.maxSessions,
        backend_health_url: Option.getOrNull(Option.map(config.backendHealthUrl, redactUrl)),
        drain_timeout: config.drainTimeoutSeconds,
        max_session_seconds: Option.getOrNull(config.maxSessionSeconds),
        max_connections: config.maxConnections
      }
    })
  })

  /** Prometheus text exposition: counters recorded as things happened, states read now. */
  const metricsExposition = Effect.gen(function* () {
    const slots = yield* pool.slots
    const count = { idle: 0, reserved: 0, retiring: 0, retired: 0 }
    for (const slot of slots) count[slot.state]++
    const load = yield* metrics.snapshot
    const backlog = yield* metrics.deletionBacklog
    const text = yield* prometheus.exposition({
      slots: count,
      callbackPending: (yield* outbox.stats).pending,
      ready: load.ready,
      errored: load.errorMsg !== "",
      draining: (yield* pool.mode) !== "serving",
      deletionsPending: backlog.finished + backlog.refusals
    })
    return { status: 200, body: text, contentType: prometheus.contentType }
  })

  const route = (method: "GET" | "POST", handle: WireRoute["handle"], body: WireRoute["body"] = "none", interruptOnClose = false): WireRoute => ({
    method,
    body,
    handle,
    interruptOnClose
  })
  const table = new Map<string, WireRoute>([
    // A consumer's log must say that its release did nothing (newcomer 37 #5): the protocol's bare `invalid JSON` does not.
    ["/release", { ...route("POST", release, "json"), notJson: releaseNotJson }],
    ["/sessions", route("GET", sessions, "none", true)],
    // Whatever its body, even one that is not JSON (read then as text): recycled.
    ["/recycle", { ...route("POST", recycle, "json"), notJsonAsText: true }],
    // A monitor pipelining these and reading nothing had each built anyway (probe 52 L4).
    ["/debug", { ...route("GET", () => debug), costly: true }],
    ["/metrics", { ...route("GET", () => metricsExposition), costly: true }]
  ])
  // The stub health check, only when the framework is not pointed at the consumer.
  if (Option.isNone(config.backendHealthUrl)) table.set("/health", route("GET", () => Effect.succeed(text(200, "ok"))))
  const routes: RouteTable = table
  return routes
})

const withQueryField = <E extends InvalidField | InvalidJson>(error: E): E | InvalidField =>
  error._tag === "InvalidField" ? new InvalidField({ field: `query.${error.field}`, message: `query ${error.message}` }) : error
