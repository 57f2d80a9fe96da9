/**
 * The worker's Prometheus metrics (`GET /metrics` on the control port), in a registry of its own.
 *
 * Events are recorded where they happen, synchronously:
 * sessions by the pool, requests by the listeners, deliveries by the outbox, reports by the reporter,
 * health failures by the lifecycle. The two on the session path (answers, and sessions opened and closed)
 * are kept as plain counts and handed to prom-client when scraped. What is a state rather than an event
 * (slots by state, pending callbacks, readiness) is read when the metrics are scraped (`exposition`).
 */
import { Effect } from "effect"
import { Counter, Gauge, Histogram } from "prom-client"
import { CloseReason } from "../../protocol/callback.js"
import { processRegistry } from "../../shared/promRegistry.js"

const deliveryOutcomes = ["delivered", "failed", "retried", "refused_at_cap"] as const
export type DeliveryOutcome = (typeof deliveryOutcomes)[number]

/** The states scraped at each `GET /metrics`. */
export interface ScrapedState {
  readonly slots: Readonly<Record<"idle" | "reserved" | "retiring" | "retired", number>>
  readonly callbackPending: number
  readonly ready: boolean
  readonly errored: boolean
  readonly draining: boolean
  readonly deletionsPending: number
}

/**
 * A counter's labelled children, looked up by a plain key: labelling a metric on every event sorts and hashes
 * its labels each time.
 */
const labelled = (metric: Counter) => {
  const children = new Map<string, Counter.Internal>()
  return (...labels: Array<string>): Counter.Internal => {
    const key = labels.join("\u0000")
    let child = children.get(key)
    if (child === undefined) {
      child = metric.labels(...labels)
      children.set(key, child)
    }
    return child
  }
}

/**
 * Counts by key, raised per event and handed over (`drain`) when scraped. The keys stay, at zero, between
 * scrapes: they are a small fixed set (routes, statuses, close reasons), and a map emptied every time would
 * allocate a new table each time.
 */
class PendingCounts<K> {
  private readonly counts = new Map<K, number>()

  add(key: K): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
  }

  /** Each key counted since the last drain, with its count; every count is then zero. */
  drain(each: (key: K, count: number) => void): void {
    for (const [key, count] of this.counts) {
      if (count === 0) continue
      each(key, count)
      this.counts.set(key, 0)
    }
  }
}

/** Held times buffered before they are handed to the histogram (also at each scrape). */
export const HELD_BATCH = 1024

export class WorkerMetrics extends Effect.Service<WorkerMetrics>()("worker/WorkerMetrics", {
  sync: () => {
    const registry = processRegistry()
    const registers = [registry]
    const slots = new Gauge({ name: "null_worker_slots", help: "Reservation slots by state: idle, reserved, retiring (draining), retired.", labelNames: ["state"], registers })
    const opened = new Counter({ name: "null_worker_sessions_opened_total", help: "Sessions created.", registers })
    const closed = new Counter({
      name: "null_worker_sessions_closed_total",
      help: "Sessions closed, by reason: ended, released, expired, shutdown.",
      labelNames: ["reason"],
      registers
    })
    const duration = new Histogram({
      name: "null_worker_session_duration_seconds",
      help: "How long sessions were held, from create to close.",
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400],
      registers
    })
    const requests = new Counter({
      name: "null_worker_requests_total",
      help: "HTTP requests answered, by route (path, or other) and status.",
      labelNames: ["route", "status"],
      registers
    })
    const deliveries = new Counter({
      name: "null_worker_callback_deliveries_total",
      help: "on_close callbacks: delivered, failed (given up), retried (an attempt failed and another follows), refused_at_cap (a create refused because the outbox was full).",
      labelNames: ["outcome"],
      registers
    })
    const pending = new Gauge({ name: "null_worker_callback_pending", help: "on_close callbacks waiting or being delivered.", registers })
    const reports = new Counter({
      name: "null_worker_autoscaler_reports_total",
      help: "/worker_status/ reports: accepted, or refused (every address and attempt failed).",
      labelNames: ["outcome"],
      registers
    })
    const failovers = new Counter({
      name: "null_worker_autoscaler_failovers_total",
      help: "/worker_status/ and /delete_requests/ deliveries accepted after an attempt failed: by a retry or by another REPORT_ADDR.",
      labelNames: ["path"],
      registers
    })
    const reportSeconds = new Histogram({
      name: "null_worker_autoscaler_report_seconds",
      help: "Time one /worker_status/ report took, fail-over and retries included.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers
    })
    const healthFailures = new Counter({
      name: "null_worker_health_failures_total",
      help: "Health checks counted as failures (after the first success and the start-up grace; a timeout while a session is open is not one).",
      registers
    })
    const ready = new Gauge({ name: "null_worker_ready", help: "1 once the worker has been ready (key loaded, first health check passed); it stays 1 when errored or recycled: new sessions are taken while ready is 1 and draining is 0.", registers })
    const errored = new Gauge({ name: "null_worker_errored", help: "1 once error_msg is set (the autoscaler decommissions the worker).", registers })
    const draining = new Gauge({ name: "null_worker_draining", help: "1 while the worker takes no new sessions (draining, recycled or stopping).", registers })
    const deletions = new Gauge({ name: "null_worker_delete_requests_pending", help: "/delete_requests/ records not yet accepted by the autoscaler.", registers })

    const requestsBy = labelled(requests)
    // Every answer is counted here, in plain numbers (route → status → count), and handed to the counter when
    // scraped: labelling a prom-client counter hashes its labels on every call, a measurable share of a 429.
    const answered = new Map<string, PendingCounts<number>>()
    const flushAnswered = () => {
      for (const [route, byStatus] of answered) byStatus.drain((status, count) => requestsBy(route, String(status)).inc(count))
    }
    const closedBy = labelled(closed)
    const deliveriesBy = labelled(deliveries)
    const reportsBy = labelled(reports)
    const failoversBy = labelled(failovers)
    // Every label value is shown at 0 from the start: a series that first appears at 1 is invisible to increase() and to
    // absent(), and most of these (a shutdown close, a failed callback, a failover) are rare.
    for (const reason of CloseReason.literals) closedBy(reason).inc(0)
    for (const outcome of deliveryOutcomes) deliveriesBy(outcome).inc(0)
    for (const outcome of ["accepted", "refused"]) reportsBy(outcome).inc(0)
    for (const path of ["/worker_status/", "/delete_requests/"]) failoversBy(path).inc(0)

    // Sessions are counted the same way, and their held times kept in a buffer that goes to the histogram when
    // scraped or when full. In the running worker one prom-client call per session event measured 0.7 µs (opened)
    // and 3.8 µs (closed: a labelled counter and an observation), many times what a loop of them costs.
    let openedPending = 0
    const closedPending = new PendingCounts<CloseReason>()
    const heldPending = new Float64Array(HELD_BATCH)
    let heldCount = 0
    const flushHeld = () => {
      for (let i = 0; i < heldCount; i++) duration.observe(heldPending[i] ?? 0)
      heldCount = 0
    }
    const flushSessions = () => {
      if (openedPending > 0) opened.inc(openedPending)
      openedPending = 0
      closedPending.drain((reason, count) => closedBy(reason).inc(count))
      flushHeld()
    }

    return {
      sessionOpened: (): void => {
        openedPending++
      },
      sessionClosed: (reason: CloseReason, heldSeconds: number): void => {
        closedPending.add(reason)
        if (heldCount === HELD_BATCH) flushHeld()
        heldPending[heldCount++] = heldSeconds
      },
      request: (route: string, status: number): void => {
        let byStatus = answered.get(route)
        if (byStatus === undefined) {
          byStatus = new PendingCounts()
          answered.set(route, byStatus)
        }
        byStatus.add(status)
      },
      delivery: (outcome: DeliveryOutcome): void => deliveriesBy(outcome).inc(),
      report: (outcome: "accepted" | "refused", seconds: number): void => {
        reportsBy(outcome).inc()
        reportSeconds.observe(seconds)
      },
      /** A delivery to the autoscaler accepted after an attempt failed. */
      failover: (path: "/worker_status/" | "/delete_requests/"): void => failoversBy(path).inc(),
      healthFailure: (): void => healthFailures.inc(),
      /**
       * Set the scraped states, then render the exposition. Every metric and collector is ours, so a throw or a rejection
       * here is a bug: a defect, which the wire server logs in full and answers with a plain 500.
       */
      exposition: (state: ScrapedState) =>
        Effect.promise(() => {
          flushAnswered()
          flushSessions()
          for (const [name, count] of Object.entries(state.slots)) slots.set({ state: name }, count)
          pending.set(state.callbackPending)
          ready.set(state.ready ? 1 : 0)
          errored.set(state.errored ? 1 : 0)
          draining.set(state.draining ? 1 : 0)
          deletions.set(state.deletionsPending)
          return registry.metrics()
        }),
      contentType: registry.contentType
    }
  }
}) {}
