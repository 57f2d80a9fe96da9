import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { HELD_BATCH, WorkerMetrics } from "../../../src/worker/metrics/WorkerMetrics.js"
import { sample } from "../../support/metrics.js"

describe("WorkerMetrics", () => {
  it.effect("a fresh worker shows every labelled counter's series at 0, so that increase() and absent() see the first event", () =>
    Effect.gen(function* () {
      const metrics = yield* WorkerMetrics
      const text = yield* metrics.exposition({ slots: { idle: 1, reserved: 0, retiring: 0, retired: 0 }, callbackPending: 0, ready: true, errored: false, draining: false, deletionsPending: 0 })
      const series = [
        ...["ended", "released", "expired", "shutdown"].map((reason) => `null_worker_sessions_closed_total{reason="${reason}"} 0`),
        ...["delivered", "failed", "retried", "refused_at_cap"].map((outcome) => `null_worker_callback_deliveries_total{outcome="${outcome}"} 0`),
        ...["accepted", "refused"].map((outcome) => `null_worker_autoscaler_reports_total{outcome="${outcome}"} 0`),
        ...["/worker_status/", "/delete_requests/"].map((path) => `null_worker_autoscaler_failovers_total{path="${path}"} 0`)
      ]
      assert.deepStrictEqual(series.filter((line) => !text.split("\n").includes(line)), [])
    }).pipe(Effect.provide(WorkerMetrics.Default))
  )

  it.effect("the scraped states, each as the worker gives it: slots by state, pending callbacks, ready, errored, draining, pending deletions (review 43 L6b)", () =>
    Effect.gen(function* () {
      const metrics = yield* WorkerMetrics
      const lines = (yield* metrics.exposition({ slots: { idle: 0, reserved: 1, retiring: 2, retired: 3 }, callbackPending: 4, ready: false, errored: true, draining: true, deletionsPending: 7 })).split("\n")
      const expected = [
        'null_worker_slots{state="reserved"} 1',
        'null_worker_slots{state="retiring"} 2',
        'null_worker_slots{state="retired"} 3',
        "null_worker_callback_pending 4",
        "null_worker_ready 0",
        "null_worker_errored 1",
        "null_worker_draining 1",
        "null_worker_delete_requests_pending 7"
      ]
      assert.deepStrictEqual(expected.filter((line) => !lines.includes(line)), [])
    }).pipe(Effect.provide(WorkerMetrics.Default))
  )

  it.effect("answers counted between scrapes add up across scrapes, by route and status", () =>
    Effect.gen(function* () {
      const metrics = yield* WorkerMetrics
      const count = (route: string, status: string) => sample(metrics, "null_worker_requests_total", { route, status })
      metrics.request("/session/create", 201)
      metrics.request("/session/create", 429)
      metrics.request("/session/create", 429)
      assert.deepStrictEqual([yield* count("/session/create", "201"), yield* count("/session/create", "429")], [1, 2])
      // Nothing new: a second scrape shows the same totals (counts are not handed over twice).
      assert.deepStrictEqual([yield* count("/session/create", "201"), yield* count("/session/create", "429")], [1, 2])
      metrics.request("/session/create", 429)
      metrics.request("other", 404)
      assert.deepStrictEqual([yield* count("/session/create", "429"), yield* count("other", "404")], [3, 1])
    }).pipe(Effect.provide(WorkerMetrics.Default))
  )

  it.effect("sessions counted between scrapes add up across scrapes: opened, closed by reason, held times", () =>
    Effect.gen(function* () {
      const metrics = yield* WorkerMetrics
      const read = Effect.all({
        opened: sample(metrics, "null_worker_sessions_opened_total"),
        released: sample(metrics, "null_worker_sessions_closed_total", { reason: "released" }),
        expired: sample(metrics, "null_worker_sessions_closed_total", { reason: "expired" }),
        count: sample(metrics, "null_worker_session_duration_seconds_count"),
        sum: sample(metrics, "null_worker_session_duration_seconds_sum"),
        under5: sample(metrics, "null_worker_session_duration_seconds_bucket", { le: "5" })
      })
      metrics.sessionOpened()
      metrics.sessionOpened()
      metrics.sessionClosed("released", 2)
      assert.deepStrictEqual(yield* read, { opened: 2, released: 1, expired: 0, count: 1, sum: 2, under5: 1 })
      // A second scrape with nothing new: the same totals, nothing handed over twice.
      assert.deepStrictEqual(yield* read, { opened: 2, released: 1, expired: 0, count: 1, sum: 2, under5: 1 })
      metrics.sessionClosed("expired", 10)
      metrics.sessionClosed("released", 1)
      assert.deepStrictEqual(yield* read, { opened: 2, released: 2, expired: 1, count: 3, sum: 13, under5: 2 })
    }).pipe(Effect.provide(WorkerMetrics.Default))
  )

  it.effect("more held times than one buffer between scrapes: every one reaches the histogram", () =>
    Effect.gen(function* () {
      const metrics = yield* WorkerMetrics
      const closes = 2 * HELD_BATCH + 3
      // Alternately 1 s and 10 s: the buckets show that each value, not only the count, was kept.
      for (let i = 0; i < closes; i++) metrics.sessionClosed("ended", i % 2 === 0 ? 1 : 10)
      const ones = Math.ceil(closes / 2)
      assert.deepStrictEqual(
        yield* Effect.all({
          closed: sample(metrics, "null_worker_sessions_closed_total", { reason: "ended" }),
          count: sample(metrics, "null_worker_session_duration_seconds_count"),
          sum: sample(metrics, "null_worker_session_duration_seconds_sum"),
          upTo1: sample(metrics, "null_worker_session_duration_seconds_bucket", { le: "1" }),
          upTo15: sample(metrics, "null_worker_session_duration_seconds_bucket", { le: "15" })
        }),
        { closed: closes, count: closes, sum: ones + 10 * (closes - ones), upTo1: ones, upTo15: closes }
      )
    }).pipe(Effect.provide(WorkerMetrics.Default))
  )
})
