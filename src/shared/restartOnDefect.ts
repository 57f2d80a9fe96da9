/**
 * Long-running loops that must not stop for a bug: a session's keep-alive (if it dies, nobody pings the session, and
 * the client goes on counting a worker the session's expiry takes away), the worker's health loop (if it dies, a dead
 * consumer is never noticed and the worker stays ready).
 */
import { Cause, Duration, Effect } from "effect"
import { describeCause } from "./causeLine.js"
import { monotonicMillis } from "./monotonic.js"

/** What a restart says besides the cause: how many deaths in a row, and how long until the next run. */
export interface Restart {
  readonly inARow: number
  readonly nextIn: Duration.Duration
}

/** The longest wait between runs, unless the first pause is longer: a loop stuck on a bug logs once a minute at most. */
const MAX_PAUSE = Duration.minutes(1)

/**
 * Run `loop`; each time it dies (a defect), let `onDefect` say so, wait, and run it again. It ends when `loop` ends or is
 * interrupted. The first wait is `pause`; each death in a row doubles it, up to a minute (or `pause`, if longer), so a
 * loop that dies at once neither spins nor fills the log with the same stack (review 55 I3). A run that lasted the
 * longest wait or more was not dying at once: the next death waits `pause` again.
 */
export const restartOnDefect = <R>(
  loop: Effect.Effect<void, never, R>,
  pause: Duration.DurationInput,
  onDefect: (cause: Cause.Cause<never>, restart: Restart) => Effect.Effect<void, never, R>
): Effect.Effect<void, never, R> => {
  const first = Duration.decode(pause)
  const longest = Duration.max(first, MAX_PAUSE)
  const run = (inARow: number, wait: Duration.Duration): Effect.Effect<void, never, R> =>
    // How long a run lasted, on the clock that never steps (review 57 L5).
    Effect.flatMap(monotonicMillis, (startedAt) =>
      Effect.catchAllCause(loop, (cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause)
          : Effect.flatMap(monotonicMillis, (diedAt) => {
              const dyingAtOnce = Duration.lessThan(Duration.millis(diedAt - startedAt), longest)
              const nextInARow = dyingAtOnce ? inARow + 1 : 1
              const nextIn = dyingAtOnce && inARow > 0 ? Duration.min(Duration.times(wait, 2), longest) : first
              return onDefect(cause, { inARow: nextInARow, nextIn }).pipe(
                Effect.zipRight(Effect.sleep(nextIn)),
                Effect.zipRight(run(nextInARow, nextIn))
              )
            })
      )
    )
  return run(0, first)
}

/** "starting it again in 4s (crash 3 in a row)": what a log line about a restart ends with. */
export const describeRestart = (restart: Restart): string =>
  `starting it again in ${Duration.format(restart.nextIn)}${restart.inARow > 1 ? ` (crash ${restart.inARow} in a row)` : ""}`

/** A session's keep-alive under `restartOnDefect`: a crash is logged in full, and `report`ed in one line. */
export const restartingKeepAlive = <R>(
  keepAlive: Effect.Effect<void, never, R>,
  pause: Duration.DurationInput,
  report: (message: string) => Effect.Effect<void, never, R>
): Effect.Effect<void, never, R> =>
  restartOnDefect(keepAlive, pause, (cause, restart) =>
    Effect.zipRight(
      Effect.logError(`keep-alive crashed; ${describeRestart(restart)}`, cause),
      report(`crashed (${describeCause(cause)}); ${describeRestart(restart)}`)
    )
  )
