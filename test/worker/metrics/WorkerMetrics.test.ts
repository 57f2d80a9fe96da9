import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { WorkerMetrics } from "../../../src/worker/metrics/WorkerMetrics.js"
import { sample } from "../../support/metrics.js"

describe("WorkerMetrics", () => {
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
})
