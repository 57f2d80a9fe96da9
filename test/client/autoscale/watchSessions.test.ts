import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Option, SubscriptionRef, TestClock } from "effect"
import type { SessionsAnswer } from "../../../src/protocol/control.js"
import { watchSessions } from "../../../src/client/autoscale/watchSessions.js"
import { ControlFailed, type WorkerControl } from "../../../src/client/autoscale/WorkerControl.js"
import { readThrough } from "../../support/clock.js"

/** More polls than any test here expects. */
const MAX_POLLS = 1_000

const answerAt = (index: number): SessionsAnswer => ({ sessions: [], draining: false, index })

/**
 * A control port whose `/sessions` answers as `behave` says for each poll (given the index it named and its wait),
 * recording when each poll was sent (ms on the test clock) and the index it named.
 */
const fakeControl = (behave: (sent: Option.Option<number>, waitSeconds: number, poll: number) => Effect.Effect<SessionsAnswer, ControlFailed>) => {
  const polls: Array<{ readonly at: number; readonly sent: number | null }> = []
  const control: WorkerControl["Type"] = {
    sessions: (sent, waitSeconds) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => {
        polls.push({ at, sent: Option.getOrNull(sent) })
        // A watcher that spins is stopped here, so that the test fails on its count rather than hanging.
        return polls.length > MAX_POLLS ? Effect.never : behave(sent, waitSeconds, polls.length)
      }),
    release: () => Effect.die("not used")
  }
  return { control, polls }
}

const watching = (control: WorkerControl["Type"], failures: Array<string> = [], pollWaitSeconds = 30) =>
  Effect.gen(function* () {
    const state = yield* SubscriptionRef.make<Option.Option<SessionsAnswer>>(Option.none())
    yield* Effect.forkScoped(watchSessions(control, pollWaitSeconds, state, (message) => Effect.sync(() => void failures.push(message))))
    yield* TestClock.adjust("0 millis")
    return state
  })

describe("watchSessions (TestClock)", () => {
  it.scoped("a poll answered at once with the index it named did not wait (the 64 long polls taken): it backs off to one poll every 2 s, not a spin", () =>
    Effect.gen(function* () {
      const { control, polls } = fakeControl(() => Effect.succeed(answerAt(7)))
      const state = yield* watching(control)
      yield* TestClock.adjust("10 seconds")
      // The first poll names no index; the second, at once, names 7 and is answered at once: then 200, 400, 800, 1600
      // ms apart, then every 2 s.
      assert.deepStrictEqual(polls.map((poll) => poll.at), [0, 0, 200, 600, 1400, 3000, 5000, 7000, 9000])
      assert.deepStrictEqual(Option.map(yield* SubscriptionRef.get(state), (answer) => answer.index), Option.some(7))
    })
  )

  it.scoped("whether a poll waited is measured on the clock that never steps: a wall clock stepped forward during each early answer is no wait (review 45 Info)", () =>
    Effect.gen(function* () {
      const wall = { offset: 0 }
      const { control, polls } = fakeControl(() => Effect.sync(() => (wall.offset += 60_000)).pipe(Effect.as(answerAt(7))))
      const state = yield* SubscriptionRef.make<Option.Option<SessionsAnswer>>(Option.none())
      const watcher = watchSessions(control, 30, state, () => Effect.void)
      yield* Effect.forkScoped(Effect.flatMap(Effect.clock, (clock) => Effect.withClock(watcher, readThrough(clock, (millis) => millis + wall.offset))))
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(polls.length, 9)
    })
  )

  it.scoped("a poll that waited its time, or brought a new index, is followed by the next at once", () =>
    Effect.gen(function* () {
      // The first answers at once (no index named); then each waits its full 30 s with nothing new, except the
      // fourth, which brings index 8 at 5 s.
      const { control, polls } = fakeControl((sent, waitSeconds, poll) =>
        Option.isNone(sent) ? Effect.succeed(answerAt(7)) : poll === 4 ? Effect.as(Effect.sleep("5 seconds"), answerAt(8)) : Effect.as(Effect.sleep(`${waitSeconds} seconds`), answerAt(sent.value))
      )
      yield* watching(control)
      yield* TestClock.adjust("100 seconds")
      assert.deepStrictEqual(polls.map((poll) => [poll.at, poll.sent]), [[0, null], [0, 7], [30_000, 7], [60_000, 7], [65_000, 8], [95_000, 8]])
    })
  )

  it.scoped("a wait asked past the worker's 300 s is waited 300 s: such a poll waited, and the next follows at once", () =>
    Effect.gen(function* () {
      const { control, polls } = fakeControl((sent, waitSeconds) =>
        Option.isNone(sent) ? Effect.succeed(answerAt(7)) : Effect.as(Effect.sleep(`${Math.min(waitSeconds, 300)} seconds`), answerAt(7))
      )
      yield* watching(control, [], 900)
      yield* TestClock.adjust("601 seconds")
      assert.deepStrictEqual(polls.map((poll) => poll.at), [0, 0, 300_000, 600_000])
    })
  )

  it.scoped("after unwaited answers, one that waits ends the back-off: the next early answer starts it again from 200 ms", () =>
    Effect.gen(function* () {
      // Polls 2-4 answered at once (the cap held), poll 5 (at 1.4 s) waits its 30 s, then at once again.
      const { control, polls } = fakeControl((sent, waitSeconds, poll) =>
        poll === 5 ? Effect.as(Effect.sleep(`${waitSeconds} seconds`), answerAt(7)) : Effect.succeed(answerAt(7))
      )
      yield* watching(control)
      yield* TestClock.adjust("31700 millis")
      assert.deepStrictEqual(polls.map((poll) => poll.at), [0, 0, 200, 600, 1400, 31_400, 31_600])
    })
  )

  it.scoped("failures back off 200 ms doubling to 2 s and are said once, at the sixth in a row; the next poll names no index", () =>
    Effect.gen(function* () {
      const failures: Array<string> = []
      const { control, polls } = fakeControl(() => Effect.fail(new ControlFailed({ operation: "sessions", detail: "connect ECONNREFUSED" })))
      yield* watching(control, failures)
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(polls.map((poll) => poll.at), [0, 200, 600, 1400, 3000, 5000, 7000, 9000])
      assert.isTrue(polls.every((poll) => poll.sent === null))
      assert.lengthOf(failures, 1)
    })
  )
})
