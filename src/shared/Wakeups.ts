/**
 * Fibers waiting for a condition that synchronous code changes: `until` completes once it holds, looked at again at
 * each `wakeAll`; a wait that is interrupted (a long poll whose client left, a timeout) takes itself off the list. The
 * slot pool wakes its long polls and its drain with it, and the load metrics their reporter.
 */
import { Effect } from "effect"

export class Wakeups {
  private readonly waiting = new Set<() => void>()

  /**
   * Completes once `ready()` holds: at once, or at the first `wakeAll` after which it does. The look and the joining of
   * the list are one step: a fiber can yield between two steps of its own, and a change (with its `wakeAll`) that fell
   * between a look and a wait would leave the wait for the next change (review 39 I6).
   */
  until(ready: () => boolean): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (ready()) return resume(Effect.void)
      const wake = () => {
        if (ready()) resume(Effect.void)
        else this.waiting.add(wake)
      }
      this.waiting.add(wake)
      return Effect.sync(() => void this.waiting.delete(wake))
    })
  }

  /** Looks again for every waiting fiber; returns whether there was one. */
  wakeAll(): boolean {
    if (this.waiting.size === 0) return false
    const woken = [...this.waiting]
    this.waiting.clear()
    for (const wake of woken) wake()
    return true
  }
}
