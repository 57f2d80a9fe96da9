/**
 * Long-running loops that must not stop for a bug: a session's keep-alive (if it dies, nobody pings the session, and
 * the client goes on counting a worker the session's expiry takes away), the worker's health loop (if it dies, a dead
 * consumer is never noticed and the worker stays ready).
 */
import { Cause, Duration, Effect } from "effect"
import { describeCause } from "./causeLine.js"

/**
 * Run `loop`; each time it dies (a defect), let `onDefect` say so, wait `pause`, and run it again. It ends when `loop`
 * ends or is interrupted. The pause keeps a loop that dies at once from spinning.
 */
export const restartOnDefect = <R>(
  loop: Effect.Effect<void, never, R>,
  pause: Duration.DurationInput,
  onDefect: (cause: Cause.Cause<never>) => Effect.Effect<void, never, R>
): Effect.Effect<void, never, R> =>
  Effect.catchAllCause(loop, (cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.failCause(cause)
      : onDefect(cause).pipe(
          Effect.zipRight(Effect.sleep(pause)),
          Effect.zipRight(restartOnDefect(loop, pause, onDefect))
        )
  )

/** A session's keep-alive under `restartOnDefect`: a crash is logged in full, and `report`ed in one line. */
export const restartingKeepAlive = <R>(
  keepAlive: Effect.Effect<void, never, R>,
  pause: Duration.DurationInput,
  report: (message: string) => Effect.Effect<void, never, R>
): Effect.Effect<void, never, R> =>
  restartOnDefect(keepAlive, pause, (cause) =>
    Effect.zipRight(Effect.logError("keep-alive crashed; starting it again", cause), report(`crashed (${describeCause(cause)}); started again`))
  )
