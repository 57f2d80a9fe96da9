/**
 * The local serverless's Prometheus metrics (`GET /metrics`): workers by state, route requests
 * answered, waiting and dropped, scale events, worker reports and callbacks received, plus Node's
 * process metrics. They live in a registry of this service's own, never prom-client's global one, so
 * two serverlesses in one process (tests) do not share counters.
 */
import { Data, Effect } from "effect"
import { Counter, Gauge } from "prom-client"
import { processRegistry } from "../shared/promRegistry.js"
import { type DisplayState, displayStates } from "./scaling.js"

/** How a route request was answered: a worker was named, or the client must poll again. */
export type RouteAnswerKind = "ready" | "waiting"
/** Why a waiting route request was given up: its connection closed, or it was not polled again in time. */
export type DropReason = "client_gone" | "not_polled"
export type ScaleEvent =
  | { readonly action: "start"; readonly reason: "capacity" | "queue_time" }
  | { readonly action: "stop"; readonly reason: "idle" | "errored" | "exited" }

/** What the gauges show at scrape time, read from the control plane's state. */
export interface Snapshot {
  readonly workers: Readonly<Record<DisplayState, number>>
  readonly waiting: number
  readonly neededCapacity: number
}

export class ExpositionFailed extends Data.TaggedError("ExpositionFailed")<{ readonly message: string }> {}

export class ServerlessMetrics extends Effect.Service<ServerlessMetrics>()("serverless/ServerlessMetrics", {
  sync: () => {
    const registry = processRegistry()
    const registers = [registry]
    const workers = new Gauge({
      name: "null_serverless_workers",
      help: "Workers by state: starting, busy (load reported or routed), idle, draining, stopping, errored.",
      labelNames: ["state"],
      registers
    })
    const routeRequests = new Counter({
      name: "null_serverless_route_requests_total",
      help: "POST /route/ requests answered: ready (a worker was named) or waiting (poll again).",
      labelNames: ["answer"],
      registers
    })
    const waiting = new Gauge({
      name: "null_serverless_route_requests_waiting",
      help: "Route requests waiting for a worker now.",
      registers
    })
    const dropped = new Counter({
      name: "null_serverless_route_requests_dropped_total",
      help: "Waiting route requests given up: client_gone (its connection closed) or not_polled (no poll in time).",
      labelNames: ["reason"],
      registers
    })
    const scaleEvents = new Counter({
      name: "null_serverless_scale_events_total",
      help: "Workers started (capacity, queue_time) and stopped (idle, errored) by the scaling rules, or stopped after they drained and exited on their own (exited).",
      labelNames: ["action", "reason"],
      registers
    })
    const neededCapacity = new Gauge({
      name: "null_serverless_capacity_needed",
      help: "Capacity (perf units) the scaling rule asks for now: max(min_load, load) / target_util.",
      registers
    })
    const reports = new Counter({
      name: "null_serverless_worker_reports_total",
      help: "Load reports (POST /worker_status/) received: accepted, or rejected (unknown worker or mtoken).",
      labelNames: ["outcome"],
      registers
    })
    const callbacks = new Counter({
      name: "null_serverless_callbacks_received_total",
      help: "on_close callbacks received by the sink at /callbacks/.",
      registers
    })
    // Every series exists from the start, at 0: a rate() over a series that appears late misses its first events.
    for (const answer of ["ready", "waiting"]) routeRequests.inc({ answer }, 0)
    for (const reason of ["client_gone", "not_polled"]) dropped.inc({ reason }, 0)
    for (const [action, reason] of [["start", "capacity"], ["start", "queue_time"], ["stop", "idle"], ["stop", "errored"], ["stop", "exited"]] as const) {
      scaleEvents.inc({ action, reason }, 0)
    }
    for (const outcome of ["accepted", "rejected"]) reports.inc({ outcome }, 0)

    return {
      contentType: registry.contentType,
      routeAnswered: (answer: RouteAnswerKind) => Effect.sync(() => routeRequests.inc({ answer })),
      requestDropped: (reason: DropReason) => Effect.sync(() => dropped.inc({ reason })),
      scaled: (event: ScaleEvent) => Effect.sync(() => scaleEvents.inc({ action: event.action, reason: event.reason })),
      reportReceived: (accepted: boolean) => Effect.sync(() => reports.inc({ outcome: accepted ? "accepted" : "rejected" })),
      callbackReceived: Effect.sync(() => callbacks.inc()),
      /** The text exposition, with the gauges set from `snapshot` first. */
      exposition: (snapshot: Snapshot) =>
        Effect.suspend(() => {
          for (const state of displayStates) workers.set({ state }, snapshot.workers[state])
          waiting.set(snapshot.waiting)
          neededCapacity.set(snapshot.neededCapacity)
          return Effect.tryPromise({
            try: () => registry.metrics(),
            catch: (error) => new ExpositionFailed({ message: error instanceof Error ? error.message : String(error) })
          })
        })
    }
  }
}) {}
