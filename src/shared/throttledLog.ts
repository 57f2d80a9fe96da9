/**
 * A warning that may repeat (the autoscaler is unreachable, a health check keeps failing) is logged the
 * first time, then at most once per `window` with how many times it happened in between, so a long
 * outage costs a few lines rather than one every few seconds.
 */
import { type Clock, Duration, Effect, LogLevel } from "effect"
import { monotonicMillis, unsafeMonotonicMillis } from "./monotonic.js"
import type { SyncLogAt } from "./syncLog.js"

interface Entry {
  lastLoggedAt: number
  suppressed: number
}

export const makeThrottledLog = (window: Duration.DurationInput = "1 minute") => {
  const windowMs = Duration.toMillis(Duration.decode(window))
  const entries = new Map<string, Entry>()
  return {
    /** Log `message` under `key` unless the same key was logged less than `window` ago. */
    log: (level: LogLevel.LogLevel, key: string, message: string, fields: Record<string, unknown> = {}) =>
      Effect.flatMap(monotonicMillis, (now) => {
        const entry = entries.get(key)
        if (entry !== undefined && now - entry.lastLoggedAt < windowMs) {
          entry.suppressed++
          return Effect.void
        }
        const repeated = entry?.suppressed ?? 0
        entries.set(key, { lastLoggedAt: now, suppressed: 0 })
        return Effect.logWithLevel(level, message, repeated > 0 ? { ...fields, repeated_since_last_line: repeated } : fields)
      }),
    /** Forget `key` (the problem is over): its next occurrence is logged at once. */
    reset: (key: string) => Effect.sync(() => void entries.delete(key)),
    warning: LogLevel.Warning
  }
}

/**
 * The same for a synchronous log (`makeSyncLog`), for code that runs no fiber: `at` logs `message` the first time, then
 * at most once per `window`, with how many times it was asked for in between.
 */
export const makeSyncThrottle = (clock: Clock.Clock, at: SyncLogAt, window: Duration.DurationInput = "1 minute") => {
  const windowMs = Duration.toMillis(Duration.decode(window))
  let lastLoggedAt = Number.NEGATIVE_INFINITY
  let suppressed = 0
  return (message: string, fields: Readonly<Record<string, unknown>>): void => {
    const now = unsafeMonotonicMillis(clock)
    if (now - lastLoggedAt < windowMs) {
      suppressed++
      return
    }
    at(message, suppressed > 0 ? { ...fields, repeated_since_last_line: suppressed } : fields)
    lastLoggedAt = now
    suppressed = 0
  }
}
