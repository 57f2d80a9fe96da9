/**
 * Milliseconds on a clock that never steps, for elapsed time, spacing and ages. `Clock.currentTimeMillis` is the
 * wall clock, which NTP can step back or forward (chrony's `makestep` at boot): an interval measured on it can come
 * out negative or hours long, and a loop that sleeps "the rest of the interval" then sleeps for the step. Effect's
 * `currentTimeNanos` is `process.hrtime`, anchored once to the wall clock, and `TestClock` moves both together.
 */
import { Clock, Effect } from "effect"

export const monotonicMillis: Effect.Effect<number> = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos) / 1e6)

/** `monotonicMillis` from a clock at hand, for Node's callbacks. */
export const unsafeMonotonicMillis = (clock: Clock.Clock): number => Number(clock.unsafeCurrentTimeNanos()) / 1e6
