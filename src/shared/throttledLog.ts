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

/**
 * The rule both forms share: whether a line may be written `now` for `entry` (none yet: the first), and the fields it
 * carries then, with how many were held back since the last; `null` when it is held back (and counted).
 */
const admit = (entry: Entry | undefined, now: number, windowMs: number, fields: Readonly<Record<string, unknown>>) => {
  if (entry !== undefined && now - entry.lastLoggedAt < windowMs) {
    entry.suppressed++
    return null
  }
  const repeated = entry?.suppressed ?? 0
  return repeated > 0 ? { ...fields, repeated_since_last_line: repeated } : fields
}

export const makeThrottledLog = (window: Duration.DurationInput = "1 minute") => {
  const windowMs = Duration.toMillis(Duration.decode(window))
  const entries = new Map<string, Entry>()
  return {
    /** Log `message` under `key` unless the same key was logged less than `window` ago. */
    log: (level: LogLevel.LogLevel, key: string, message: string, fields: Record<string, unknown> = {}) =>
      Effect.flatMap(monotonicMillis, (now) => {
        const admitted = admit(entries.get(key), now, windowMs, fields)
        if (admitted === null) return Effect.void
        entries.set(key, { lastLoggedAt: now, suppressed: 0 })
        return Effect.logWithLevel(level, message, admitted)
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
  let entry: Entry | undefined
  return (message: string, fields: Readonly<Record<string, unknown>>): void => {
    const now = unsafeMonotonicMillis(clock)
    const admitted = admit(entry, now, windowMs, fields)
    if (admitted === null) return
    entry = { lastLoggedAt: now, suppressed: 0 }
    at(message, admitted)
  }
}
