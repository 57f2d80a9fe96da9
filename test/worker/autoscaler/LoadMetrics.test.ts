import { assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { LoadMetrics } from "../../../src/worker/autoscaler/LoadMetrics.js"

const session = { requestIdx: 4242, workload: 100 }

describe("LoadMetrics", () => {
  it.effect("a session is occupancy while open and a success when it closes", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* TestClock.adjust("2 seconds")
      yield* metrics.sessionOpened("s1", session)
      const open = yield* metrics.snapshot
      assert.strictEqual(open.curLoad, 100)
      assert.deepStrictEqual(open.workingRequestIdxs, [4242])
      assert.strictEqual(open.numRequestsRecieved, 1)
      assert.deepStrictEqual(open.counters, { received: 100, served: 0, cancelled: 0, rejected: 0 })
      yield* TestClock.adjust("5 seconds")
      yield* metrics.sessionClosed("s1")
      const closed = yield* metrics.snapshot
      assert.strictEqual(closed.curLoad, 0)
      assert.deepStrictEqual(closed.workingRequestIdxs, [])
      assert.strictEqual(closed.counters.served, 100)
      assert.deepStrictEqual(yield* metrics.pendingDeletions(10), [
        { request_idx: 4242, success: true, status: "Success", entered_queue_at: 2, work_started_at: 2, work_completed_at: 7 }
      ])
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("a refused create is rejected load with a Rejected record that keeps the create time", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* TestClock.adjust("3 seconds")
      yield* metrics.sessionRejected({ requestIdx: 9, workload: 200 })
      const snapshot = yield* metrics.snapshot
      assert.strictEqual(snapshot.counters.rejected, 200)
      assert.strictEqual(snapshot.curLoad, 0)
      assert.strictEqual(snapshot.numRequestsRecieved, 1)
      assert.deepStrictEqual(yield* metrics.pendingDeletions(10), [
        { request_idx: 9, success: false, status: "Rejected", entered_queue_at: 3, work_started_at: 3, work_completed_at: 0 }
      ])
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("sessionless pings with the session's reqnum never hide the open session (keyed by our ids)", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionOpened("s1", session)
      yield* metrics.requestServed(session)
      yield* metrics.requestServed(session)
      const snapshot = yield* metrics.snapshot
      assert.strictEqual(snapshot.curLoad, 100)
      assert.deepStrictEqual(snapshot.workingRequestIdxs, [4242])
      assert.strictEqual(snapshot.numRequestsRecieved, 3)
      assert.lengthOf(yield* metrics.pendingDeletions(10), 2)
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("in-session requests count as workload only; a rejected sessionless request is queued Rejected", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionRequestServed(100)
      yield* metrics.sessionRequestRejected(100)
      yield* metrics.requestRejected({ requestIdx: 5, workload: 100 })
      const snapshot = yield* metrics.snapshot
      assert.deepStrictEqual(snapshot.counters, { received: 100, served: 100, cancelled: 0, rejected: 200 })
      assert.strictEqual(snapshot.numRequestsRecieved, 1)
      const [record] = yield* metrics.pendingDeletions(10)
      assert.deepStrictEqual([record?.status, record?.work_started_at], ["Rejected", 0])
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("acknowledge subtracts what was reported and keeps what came after", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionRejected(session)
      const reported = (yield* metrics.snapshot).counters
      yield* metrics.sessionRejected(session)
      yield* metrics.acknowledge(reported)
      assert.strictEqual((yield* metrics.snapshot).counters.rejected, 100)
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("delivered deletions leave the queue; later ones stay", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionRejected({ requestIdx: 1, workload: 100 })
      const batch = yield* metrics.pendingDeletions(1000)
      yield* metrics.sessionRejected({ requestIdx: 1, workload: 100 })
      yield* metrics.deletionsDelivered(batch)
      assert.lengthOf(yield* metrics.pendingDeletions(1000), 1)
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("ready fixes loadtime; an error is sticky", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      assert.deepStrictEqual([(yield* metrics.snapshot).ready, (yield* metrics.snapshot).loadtime], [false, 0])
      yield* TestClock.adjust("1500 millis")
      yield* metrics.markReady
      yield* TestClock.adjust("1 second")
      yield* metrics.markReady
      const ready = yield* metrics.snapshot
      assert.deepStrictEqual([ready.ready, ready.loadtime], [true, 1.5])
      yield* metrics.markErrored("first")
      yield* metrics.markErrored("second")
      assert.strictEqual((yield* metrics.snapshot).errorMsg, "first")
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("memory stays flat: 200k session cycles leave nothing behind once deletions are delivered", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      for (let i = 0; i < 200_000; i++) {
        yield* metrics.sessionOpened(`s${i}`, { requestIdx: i, workload: 100 })
        yield* metrics.sessionClosed(`s${i}`)
        if (i % 1000 === 999) yield* metrics.deletionsDelivered(yield* metrics.pendingDeletions(1000))
      }
      const snapshot = yield* metrics.snapshot
      assert.strictEqual(snapshot.curLoad, 0)
      assert.lengthOf(snapshot.workingRequestIdxs, 0)
      assert.lengthOf(yield* metrics.pendingDeletions(10), 0)
      assert.strictEqual(snapshot.numRequestsRecieved, 200_000)
    }).pipe(Effect.provide(LoadMetrics.Default))
  )
})
