import { Effect, Scheduler } from "effect"

/** Yield budgets tried: below about 10 steps a fiber's resumption alone uses the budget, and it never gets further. */
const BUDGETS = [10, 11, 12, 13, 14, 15, 16, 18, 20]
/** After how many of its yields the change comes. */
const YIELDS = 16
/** Steps of the scheduler after the change: far more than any wait here takes. */
const STEPS = 2000

/**
 * Whether a wait can miss the change it waits for: for each yield budget and each `k`, runs `wait` on a scheduler the
 * test steps, yielding every few of its steps, and makes the change (`change`, which wakes the waiters) after the
 * fiber's k-th yield. Returns the `budget/k` pairs after which the fiber was still waiting with nothing left to run.
 * A wait that looks at its condition and joins the waiting list in two steps misses the change when a yield falls
 * between them (review 39 I6).
 */
export const missedWakeups = <E, R>(trial: Effect.Effect<{ readonly wait: Effect.Effect<void>; readonly change: () => void }, E, R>) =>
  Effect.gen(function* () {
    const missed: Array<string> = []
    for (const budget of BUDGETS) {
      for (let k = 0; k < YIELDS; k++) {
        const { change, wait } = yield* trial
        const scheduler = new Scheduler.ControlledScheduler()
        const fiber = Effect.runFork(Effect.withMaxOpsBeforeYield(wait, budget), { scheduler })
        for (let step = 0; step < k; step++) scheduler.step()
        change()
        for (let step = 0; step < STEPS && scheduler.tasks.buckets.length > 0; step++) scheduler.step()
        if (fiber.unsafePoll() === null) {
          missed.push(`${budget}/${k}`)
          fiber.unsafeInterruptAsFork(fiber.id())
          for (let step = 0; step < STEPS && scheduler.tasks.buckets.length > 0; step++) scheduler.step()
        }
      }
    }
    return missed
  })
