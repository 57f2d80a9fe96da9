/**
 * Fibers waiting for the next change, woken from synchronous code: `wait` suspends until the next `wakeAll`, and
 * a wait that is interrupted (a long poll whose client left, a timeout) takes itself off the list. The slot pool
 * wakes its long polls with it, and the load metrics their reporter.
 */
import { Effect } from "effect"

export class Wakeups {
  private readonly waiting = new Set<() => void>()

  /** Completes at the next `wakeAll`. */
  readonly wait: Effect.Effect<void> = Effect.async<void>((resume) => {
    const wake = () => resume(Effect.void)
    this.waiting.add(wake)
    return Effect.sync(() => void this.waiting.delete(wake))
  })

  /** Wake every waiting fiber; returns whether there was one. */
  wakeAll(): boolean {
    if (this.waiting.size === 0) return false
    const woken = [...this.waiting]
    this.waiting.clear()
    for (const wake of woken) wake()
    return true
  }
}
