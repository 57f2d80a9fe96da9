/**
 * The worker's three listeners (design.md "What runs"): the public API on `0.0.0.0:WORKER_PORT` (TLS when
 * `USE_SSL=true`), the plain-HTTP webhook port serving `/session/end`, and the loopback control server.
 */
import { Duration, Effect } from "effect"
import { LoadMetrics } from "../autoscaler/LoadMetrics.js"
import { CallbackPoster } from "../callbacks/CallbackPoster.js"
import { WorkerSelf } from "../callbacks/selfTarget.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { StopSignal } from "../lifecycle/StopSignal.js"
import { WorkerMetrics } from "../metrics/WorkerMetrics.js"
import { SlotPool } from "../slots/SlotPool.js"
import { MAX_SESSIONS_WAIT_SECONDS } from "../../protocol/control.js"
import { controlRoutes } from "./ControlRoutes.js"
import { publicRoutes } from "./PublicRoutes.js"
import { CONTROL_BODY_BUDGET_BYTES, makeBodyBudget, SHARED_BODY_BUDGET_BYTES } from "./bodyBudget.js"
import { budgetFor, callbackConcurrencyWarning, softFdLimit } from "./connectionBudget.js"
import { notLocal } from "./localOnly.js"
import { readTls } from "./tls.js"
import { serve, type WireLimits, type WireListener } from "./WireServer.js"

export class Listeners extends Effect.Service<Listeners>()("worker/Listeners", {
  scoped: Effect.gen(function* () {
    const config = yield* WorkerConfig
    const routes = yield* publicRoutes
    const control = yield* controlRoutes
    const prometheus = yield* WorkerMetrics
    const fdLimit = softFdLimit()
    const budget = budgetFor({ configured: config.maxConnections, fdLimit, callbackConcurrency: config.callbackConcurrency })
    const crowded = callbackConcurrencyWarning({ fdLimit, callbackConcurrency: config.callbackConcurrency })
    if (crowded !== null) yield* Effect.logWarning(crowded)
    yield* Effect.logInfo("connection caps", {
      public: budget.public,
      webhook: budget.webhook,
      control: budget.control,
      open_files_limit: budget.fdLimit ?? "unknown"
    })
    const limits: Partial<WireLimits> = { maxBodyBytes: config.maxBodyBytes }
    // One budget of bodies being received for the two public listeners; the control port keeps its own.
    const publicBodies = makeBodyBudget(SHARED_BODY_BUDGET_BYTES)
    const tls = config.useSsl ? yield* readTls(config) : undefined
    // A taken port is tried again once a second for BIND_RETRY_SECONDS: a restarting predecessor may still hold it.
    const bind = { bindAttempts: 1 + Math.floor(config.bindRetrySeconds), bindRetryDelay: "1 second", bindRetrySetting: "BIND_RETRY_SECONDS", onAnswer: prometheus.request } as const
    const all: ReadonlyArray<WireListener> = [
      yield* serve({
        name: config.useSsl ? "public API (TLS)" : "public API",
        host: config.publicHost,
        port: config.workerPort,
        portSetting: "WORKER_PORT",
        routes: routes.public,
        limits: { ...limits, maxConnections: budget.public },
        bodyBudget: publicBodies,
        ...(tls === undefined ? {} : { tls }),
        ...bind
      }),
      // The webhook port stays plain HTTP, as in the framework.
      yield* serve({ name: "webhook", host: config.publicHost, port: config.workerHttpPort, portSetting: "WORKER_HTTP_PORT", routes: routes.webhook, limits: { ...limits, maxConnections: budget.webhook }, bodyBudget: publicBodies, ...bind }),
      // Loopback only: /release has no auth. Its own connection cap keeps it usable while the public port is flooded.
      // Its long polls wait up to MAX_SESSIONS_WAIT_SECONDS in silence: the stall limit starts past that.
      yield* serve({
        name: "control",
        host: "127.0.0.1",
        port: config.controlPort,
        portSetting: "NULL_CONTROL_PORT",
        routes: control,
        // No credentials, so no web page either: a browser on the machine is a local process too.
        guard: notLocal,
        limits: { ...limits, maxConnections: budget.control, stallTimeoutMs: (MAX_SESSIONS_WAIT_SECONDS + 30) * 1000 },
        bodyBudget: makeBodyBudget(CONTROL_BODY_BUDGET_BYTES),
        ...bind
      })
    ]
    return {
      /** The bound ports, in order: public, webhook, control (tests bind port 0). */
      ports: all.map((listener) => listener.port),
      connections: Effect.map(Effect.forEach(all, (listener) => listener.connections), (counts) => counts.reduce((a, b) => a + b, 0)),
      /** From now on every answer closes its connection (the drain's start: see `WireListener.closeAfterAnswers`). */
      closeAfterAnswers: Effect.forEach(all, (listener) => listener.closeAfterAnswers, { discard: true }),
      /** Stop accepting; idle connections close at once, busy ones after `grace`. */
      close: (grace: Duration.DurationInput) => Effect.forEach(all, (listener) => listener.close(grace), { concurrency: "unbounded", discard: true })
    }
  }),
  dependencies: [SlotPool.Default, LoadMetrics.Default, CallbackPoster.Default, StopSignal.Default, WorkerMetrics.Default, WorkerSelf.Default]
}) {}
