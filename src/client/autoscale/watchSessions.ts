/**
 * The consumer's view of its worker: a long poll of `GET /sessions` on the control port, kept in `state`.
 *
 * - An answer is taken as the state and the next poll names its `index`, so it waits for the next change.
 * - A poll answered before its wait with the `index` it named did not wait: the worker lets 64 long polls wait at once
 *   and answers the next at once (other local clients may hold them all). Polled again at once it would spin (about
 *   a hundred polls a second, a core on each side), so it backs off as after a failure, until a poll waits again.
 * - A failed poll (the worker not started yet, or gone) is retried with a back-off; the first failures are expected
 *   and said once.
 */
import { Duration, Effect, Option, SubscriptionRef } from "effect"
import { MAX_SESSIONS_WAIT_SECONDS, type SessionsAnswer } from "../../protocol/control.js"
import { monotonicMillis } from "../../shared/monotonic.js"
import type { WorkerControl } from "./WorkerControl.js"

/** 200 ms after the first, doubling to 2 s. */
const backOff = (count: number) => Effect.sleep(Duration.millis(Math.min(2000, 100 * 2 ** Math.min(count, 5))))

/** Failures in a row before the failure is said (once). */
const FAILURES_SAID_AT = 5

export const watchSessions = (
  control: WorkerControl["Type"],
  pollWaitSeconds: number,
  state: SubscriptionRef.SubscriptionRef<Option.Option<SessionsAnswer>>,
  onFailure: (message: string) => Effect.Effect<void>
): Effect.Effect<never> =>
  Effect.gen(function* () {
    let index: Option.Option<number> = Option.none()
    let failures = 0
    let unwaited = 0
    while (true) {
      const sent = index
      const started = yield* monotonicMillis
      const answer = yield* Effect.either(control.sessions(sent, pollWaitSeconds))
      if (answer._tag === "Right") {
        failures = 0
        index = Option.some(answer.right.index)
        yield* SubscriptionRef.set(state, Option.some(answer.right))
        // Nothing new, answered in under half its wait (the worker waits 300 s at most): the poll did not wait.
        const waited = (yield* monotonicMillis) - started >= (Math.min(pollWaitSeconds, MAX_SESSIONS_WAIT_SECONDS) * 1000) / 2
        if (Option.isNone(sent) || sent.value !== answer.right.index || waited) unwaited = 0
        else yield* backOff(++unwaited)
        continue
      }
      if (failures === FAILURES_SAID_AT) yield* onFailure(answer.left.message)
      failures += 1
      index = Option.none()
      yield* backOff(failures)
    }
  })
