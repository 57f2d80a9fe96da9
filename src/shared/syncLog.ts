/**
 * Logging from synchronous code. The session routes run no fiber (docs/performance.md), and waking a logging
 * fiber twice per session was the largest cost left on that path. This applies the loggers, minimum level,
 * annotations and spans that were current where it was made, at once, as `Effect.log*` would there.
 */
import { Cause, Effect, FiberRef, FiberRefs, Logger, LogLevel, Option } from "effect"

export type SyncLogAt = (message: string, fields: Readonly<Record<string, unknown>>) => void

export interface SyncLog {
  readonly info: SyncLogAt
  readonly warning: SyncLogAt
}

export const makeSyncLog: Effect.Effect<SyncLog> = Effect.gen(function* () {
  const context = yield* Effect.getFiberRefs
  const clock = yield* Effect.clock
  const fiberId = yield* Effect.fiberId
  // An array, not the HashSet, and without the tracer's logger when no span is current here (it only adds the
  // line to that span): walking the set and asking for a span cost more than the rest of a line on the session path.
  const span = yield* Effect.option(Effect.currentSpan)
  const loggers = Array.from(FiberRefs.getOrDefault(context, FiberRef.currentLoggers)).filter(
    (logger) => Option.isSome(span) || logger !== Logger.tracerLogger
  )
  const minimum = FiberRefs.getOrDefault(context, FiberRef.currentMinimumLogLevel)
  const annotations = FiberRefs.getOrDefault(context, FiberRef.currentLogAnnotations)
  const spans = FiberRefs.getOrDefault(context, FiberRef.currentLogSpan)
  const at =
    (logLevel: LogLevel.LogLevel): SyncLogAt =>
    (message, fields) => {
      if (LogLevel.greaterThan(minimum, logLevel)) return
      const date = new Date(clock.unsafeCurrentTimeMillis())
      for (const logger of loggers) {
        logger.log({ fiberId, logLevel, message: [message, fields], cause: Cause.empty, context, spans, annotations, date })
      }
    }
  return { info: at(LogLevel.Info), warning: at(LogLevel.Warning) }
})
