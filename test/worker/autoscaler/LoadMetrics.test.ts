import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, TestClock } from "effect"
import { MAX_COST } from "../../../src/protocol/authData.js"
import { LoadMetrics, MAX_COUNTER, MAX_PENDING_FINISHED, MAX_PENDING_REFUSALS } from "../../../src/worker/autoscaler/LoadMetrics.js"
import { pendingRecords } from "../../support/metrics.js"
import { missedWakeups } from "../../support/missedWakeups.js"

const session = { requestIdx: 4242, workload: 100 }

/** `Some` when `effect` completes before the test clock moves at all. */
const completesAtOnce = <A>(effect: Effect.Effect<A>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(Effect.timeoutOption(effect, "1 millis"))
    yield* TestClock.adjust("1 millis")
    return yield* Fiber.join(fiber)
  })

describe("LoadMetrics", () => {
  it.effect("a session is occupancy while open and a success when it closes", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionOpened("s1", session, 2000)
      const open = yield* metrics.snapshot
      assert.strictEqual(open.curLoad, 100)
      assert.deepStrictEqual(open.workingRequestIdxs, [4242])
      assert.strictEqual(open.numRequestsRecieved, 1)
      assert.deepStrictEqual(open.counters, { received: 100, served: 0, cancelled: 0, rejected: 0 })
      yield* metrics.sessionClosed("s1", 7000)
      const closed = yield* metrics.snapshot
      assert.strictEqual(closed.curLoad, 0)
      assert.deepStrictEqual(closed.workingRequestIdxs, [])
      assert.strictEqual(closed.counters.served, 100)
      assert.deepStrictEqual(yield* pendingRecords(metrics, 10), [
        { request_idx: 4242, success: true, status: "Success", entered_queue_at: 2, work_started_at: 2, work_completed_at: 7 }
      ])
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("several open sessions: closing one (first, middle, last) leaves the others, in the order they opened", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      const look = Effect.map(metrics.snapshot, (snapshot) => ({ curLoad: snapshot.curLoad, idxs: snapshot.workingRequestIdxs }))
      for (const [id, idx] of [["a", 1], ["b", 2], ["c", 3], ["d", 4]] as const) yield* metrics.sessionOpened(id, { requestIdx: idx, workload: 100 * idx }, 1000 * idx)
      assert.deepStrictEqual(yield* look, { curLoad: 1000, idxs: [1, 2, 3, 4] })
      yield* metrics.sessionClosed("b", 5000)
      assert.deepStrictEqual(yield* look, { curLoad: 800, idxs: [1, 3, 4] })
      // An id that is not open changes nothing.
      yield* metrics.sessionClosed("b", 5500)
      yield* metrics.sessionClosed("zz", 5500)
      assert.deepStrictEqual(yield* look, { curLoad: 800, idxs: [1, 3, 4] })
      yield* metrics.sessionClosed("d", 6000)
      assert.deepStrictEqual(yield* look, { curLoad: 400, idxs: [1, 3] })
      yield* metrics.sessionClosed("a", 7000)
      assert.deepStrictEqual(yield* look, { curLoad: 300, idxs: [3] })
      // Each close recorded the session it closed: its own request_idx and start.
      assert.deepStrictEqual(
        (yield* pendingRecords(metrics, 10)).map((record) => [record.request_idx, record.work_started_at, record.work_completed_at]),
        [[2, 2, 5], [4, 4, 6], [1, 1, 7]]
      )
      assert.strictEqual((yield* metrics.snapshot).counters.served, 700)
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("closing twice counts one success", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionOpened("s1", session, 0)
      yield* metrics.sessionClosed("s1", 10)
      yield* metrics.sessionClosed("s1", 20)
      assert.strictEqual((yield* metrics.snapshot).counters.served, 100)
      assert.lengthOf(yield* pendingRecords(metrics, 10), 1)
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
      assert.deepStrictEqual(yield* pendingRecords(metrics, 10), [
        { request_idx: 9, success: false, status: "Rejected", entered_queue_at: 3, work_started_at: 3, work_completed_at: 0 }
      ])
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("sessionless pings with the session's reqnum never hide the open session (keyed by our ids)", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionOpened("s1", session, 0)
      yield* metrics.requestServed(session)
      yield* metrics.requestServed(session)
      const snapshot = yield* metrics.snapshot
      assert.strictEqual(snapshot.curLoad, 100)
      assert.deepStrictEqual(snapshot.workingRequestIdxs, [4242])
      assert.strictEqual(snapshot.numRequestsRecieved, 3)
      assert.lengthOf(yield* pendingRecords(metrics, 10), 2)
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("in-session requests count as workload only", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionRequestServed(100)
      yield* metrics.sessionRequestRejected(100)
      const snapshot = yield* metrics.snapshot
      assert.deepStrictEqual(snapshot.counters, { received: 100, served: 100, cancelled: 0, rejected: 100 })
      assert.strictEqual(snapshot.numRequestsRecieved, 0)
      assert.lengthOf(yield* pendingRecords(metrics, 10), 0)
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
      assert.lengthOf(yield* pendingRecords(metrics, 1000), 1)
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("a delivered batch removes exactly its own refusals: one of two, or none when it held only finished work", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionRejected({ requestIdx: 1, workload: 100 })
      yield* metrics.sessionRejected({ requestIdx: 2, workload: 100 })
      yield* metrics.deletionsDelivered(yield* metrics.pendingDeletions(1))
      assert.deepStrictEqual((yield* pendingRecords(metrics, 10)).map((record) => record.request_idx), [2])
      yield* metrics.sessionOpened("s1", { requestIdx: 9, workload: 100 }, 0)
      yield* metrics.sessionClosed("s1", 10)
      yield* metrics.deletionsDelivered(yield* metrics.pendingDeletions(1))
      assert.deepStrictEqual((yield* pendingRecords(metrics, 10)).map((record) => record.request_idx), [2])
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("a batch takes finished work first: a flood of refusals never delays a close's record", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      for (let i = 0; i < 5000; i++) yield* metrics.sessionRejected({ requestIdx: i, workload: 100 })
      yield* metrics.sessionOpened("s1", { requestIdx: 777, workload: 100 }, 0)
      yield* metrics.sessionClosed("s1", 10)
      const [first] = yield* pendingRecords(metrics, 1000)
      assert.deepStrictEqual([first?.request_idx, first?.status], [777, "Success"])
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect(`refusal records beyond ${MAX_PENDING_REFUSALS} drop the oldest, and are counted; finished ones are kept`, () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionOpened("s1", { requestIdx: 777, workload: 100 }, 0)
      yield* metrics.sessionClosed("s1", 10)
      for (let i = 0; i < MAX_PENDING_REFUSALS + 25; i++) yield* metrics.sessionRejected({ requestIdx: i, workload: 1 })
      const backlog = yield* metrics.deletionBacklog
      assert.deepStrictEqual(backlog, { finished: 1, refusals: MAX_PENDING_REFUSALS, droppedFinished: 0, droppedRefusals: 25 })
      const batch = yield* pendingRecords(metrics, 3)
      assert.deepStrictEqual(batch.map((record) => record.request_idx), [777, 25, 26])
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect(`finished records are capped at ${MAX_PENDING_FINISHED} while undelivered, oldest dropped, and counted (review 49 I2)`, () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      for (let i = 0; i < MAX_PENDING_FINISHED + 3; i++) yield* metrics.requestServed({ requestIdx: i, workload: 1 })
      assert.deepInclude(yield* metrics.deletionBacklog, { finished: MAX_PENDING_FINISHED, droppedFinished: 3, droppedRefusals: 0 })
      assert.strictEqual((yield* pendingRecords(metrics, 1))[0]?.request_idx, 3)
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("counters stay finite and bounded whatever arrives", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      for (let i = 0; i < 1000; i++) yield* metrics.sessionRejected({ requestIdx: i, workload: MAX_COST })
      yield* metrics.sessionRequestServed(Number.MAX_VALUE)
      yield* metrics.sessionRequestServed(Number.MAX_VALUE)
      const { counters } = yield* metrics.snapshot
      for (const value of Object.values(counters)) {
        assert.isTrue(Number.isFinite(value))
        assert.isAtMost(value, MAX_COUNTER)
      }
      assert.strictEqual(counters.rejected, 1000 * MAX_COST)
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
        yield* metrics.sessionOpened(`s${i}`, { requestIdx: i, workload: 100 }, i)
        yield* metrics.sessionClosed(`s${i}`, i + 1)
        if (i % 1000 === 999) yield* metrics.deletionsDelivered(yield* metrics.pendingDeletions(1000))
      }
      const snapshot = yield* metrics.snapshot
      assert.strictEqual(snapshot.curLoad, 0)
      assert.lengthOf(snapshot.workingRequestIdxs, 0)
      assert.lengthOf(yield* pendingRecords(metrics, 10), 0)
      assert.strictEqual(snapshot.numRequestsRecieved, 200_000)
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("acknowledging more than was counted leaves zero, never a negative counter", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionRequestServed(100)
      yield* metrics.acknowledge({ received: 500, served: 500, cancelled: 500, rejected: 500 })
      assert.deepStrictEqual((yield* metrics.snapshot).counters, { received: 0, served: 0, cancelled: 0, rejected: 0 })
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("uptime is counted from the service's start, by Clock", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* TestClock.adjust("1500 millis")
      assert.strictEqual(yield* metrics.uptimeMillis, 1500)
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("uptime and loadtime count from the service's start, not from time zero", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust("5 seconds")
      yield* Effect.gen(function* () {
        const metrics = yield* LoadMetrics
        yield* TestClock.adjust("1500 millis")
        yield* metrics.markReady
        assert.strictEqual(yield* metrics.uptimeMillis, 1500)
        assert.strictEqual((yield* metrics.snapshot).loadtime, 1.5)
      }).pipe(Effect.provide(LoadMetrics.Default))
    })
  )

  it.effect("changed: a change made while nobody waits completes the next wait at once, and only that one", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      yield* metrics.sessionOpened("s1", session, 0)
      yield* metrics.sessionClosed("s1", 1)
      assert.isTrue(Option.isSome(yield* completesAtOnce(metrics.changed)))
      const second = yield* Effect.fork(metrics.changed.pipe(Effect.timeoutOption("1 second")))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.join(second)))
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("changed: a waiter is woken by the next change, a burst of changes wakes it once, and a timed-out wait leaves no waiter", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      const timedOut = yield* Effect.fork(metrics.changed.pipe(Effect.timeoutOption("1 second")))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.join(timedOut)))
      // Had the timed-out wait stayed registered, this change would go to it and be lost.
      yield* metrics.markReady
      assert.isTrue(Option.isSome(yield* completesAtOnce(metrics.changed)))
      const waiter = yield* Effect.fork(metrics.changed)
      yield* Effect.yieldNow()
      yield* metrics.sessionOpened("s1", session, 0)
      yield* metrics.sessionClosed("s1", 1)
      yield* Fiber.join(waiter)
      // The second change of the burst came after the wake: it is pending for the next wait, not lost.
      assert.isTrue(Option.isSome(yield* completesAtOnce(metrics.changed)))
    }).pipe(Effect.provide(LoadMetrics.Default))
  )

  it.effect("changed: a change between any two of the reporter's steps ends its wait (review 39 I6)", () =>
    Effect.gen(function* () {
      const metrics = yield* LoadMetrics
      const missed = yield* missedWakeups(Effect.succeed({ wait: metrics.changed, change: () => metrics.unsafeSessionRejected(session) }))
      assert.deepStrictEqual(missed, [])
    }).pipe(Effect.provide(LoadMetrics.Default))
  )
})
