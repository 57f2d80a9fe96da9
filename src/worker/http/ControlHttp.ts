/**
 * The loopback control server (`127.0.0.1:NULL_CONTROL_PORT`): what processes on the instance use.
 * `/release` needs no auth because only local processes can reach it; `/debug` shows state but never
 * a secret (`session_auth`, signatures, tokens).
 */
import { HttpRouter, HttpServerResponse } from "@effect/platform"
import { Clock, Effect, Option } from "effect"
import { CallbackPoster } from "../callbacks/CallbackPoster.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { SlotPool } from "../slots/SlotPool.js"
import { json } from "./errorResponse.js"
import { withFallback } from "./routeFallback.js"

const release = Effect.gen(function* () {
  const pool = yield* SlotPool
  const closed = yield* pool.releaseAll("released")
  return closed.length > 0
    ? json(200, { released: true, session_ids: closed })
    : json(200, { released: false, reason: "no active session" })
})

const debug = Effect.gen(function* () {
  const pool = yield* SlotPool
  const callbacks = yield* CallbackPoster
  const config = yield* WorkerConfig
  const now = yield* Clock.currentTimeMillis
  const slots = yield* pool.slots
  const closes = yield* pool.recentCloses
  const deliveries = yield* callbacks.deliveries
  // Built field by field: the session's auth_data is its secret and is deliberately left out.
  return json(200, {
    slots: slots.map(({ session, slot, state }) => ({
      slot,
      state,
      session:
        session === null
          ? null
          : {
              session_id: session.id,
              created_at: session.createdAt / 1000,
              expires_at: session.expiresAt / 1000,
              remaining_ms: Math.max(0, session.expiresAt - now),
              lifetime: session.lifetimeMs / 1000,
              ping_count: session.pingCount,
              cost: session.cost,
              request_idx: session.requestIdx,
              on_close_route: session.onCloseRoute
            }
    })),
    recent_closes: closes.map((closed) => ({
      session_id: closed.sessionId,
      slot: closed.slot,
      reason: closed.reason,
      closed_at: closed.closedAt / 1000
    })),
    callbacks: deliveries.map((delivery) => ({
      session_id: delivery.sessionId,
      route: delivery.route,
      reason: delivery.reason,
      state: delivery.state,
      attempts: delivery.attempts,
      last_status: delivery.lastStatus,
      last_error: delivery.lastError,
      queued_at: delivery.queuedAt / 1000,
      finished_at: delivery.finishedAt === null ? null : delivery.finishedAt / 1000
    })),
    config: {
      worker_port: config.workerPort,
      worker_http_port: config.workerHttpPort,
      control_port: config.controlPort,
      max_sessions: config.maxSessions,
      backend_health_url: Option.getOrNull(config.backendHealthUrl),
      max_body_bytes: config.maxBodyBytes
    }
  })
})

/** The open sessions, for a consumer on the instance to find its job (no secrets). */
const sessions = Effect.gen(function* () {
  const pool = yield* SlotPool
  const slots = yield* pool.slots
  return json(200, {
    sessions: slots.flatMap(({ session }) =>
      session === null
        ? []
        : [{ session_id: session.id, created_at: session.createdAt / 1000, expires_at: session.expiresAt / 1000 }]
    )
  })
})

/** The control routes; the stub `/health` only when no `BACKEND_HEALTH_URL` is set. */
export const controlRouter = (options: { readonly stubHealth: boolean }) => {
  const base = HttpRouter.empty.pipe(
    HttpRouter.post("/release", release),
    HttpRouter.get("/sessions", sessions),
    HttpRouter.get("/debug", debug)
  )
  const router = options.stubHealth ? base.pipe(HttpRouter.get("/health", HttpServerResponse.text("ok"))) : base
  const paths = new Map([
    ["/release", "POST"],
    ["/sessions", "GET"],
    ["/debug", "GET"]
  ])
  if (options.stubHealth) paths.set("/health", "GET")
  return withFallback(router, paths)
}
