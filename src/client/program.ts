/**
 * What the CLI does: hold one session (single mode; over early when the worker closes it), or ramp
 * sessions up, hold a plateau and ramp down (`--demo`). Whatever stops it (the end, a failure, Ctrl-C, SIGTERM), every session still open
 * is ended before it returns; the run fails with `RunFailed` when a lookup, a create or an end failed.
 */
import { Cause, Duration, Effect, Exit, Option } from "effect"
import { ROUTE_ATTEMPTS, retryDelay } from "./backoff.js"
import { RunFailed } from "./errors.js"
import { Reporter } from "./Reporter.js"
import { Reservations } from "./Reservations.js"
import { type Endpoint, routeMayPass, VastClient } from "./VastClient.js"

export type Mode =
  | { readonly _tag: "Single"; readonly hold: Duration.Duration }
  | {
      readonly _tag: "Demo"
      readonly count: number
      readonly interval: Duration.Duration
      readonly plateau: Duration.Duration
    }

const seconds = (duration: Duration.Duration): number => Duration.toMillis(duration) / 1000

/**
 * The endpoint, asked again as `/route/` is when the lookup fails in a way that may pass (no answer, 408, 429, 5xx: the
 * webserver's 502 during a deploy), up to `ROUTE_ATTEMPTS` calls in a row, each failure before the last a warning.
 */
const lookUp = (endpointName: string) =>
  Effect.gen(function* () {
    const client = yield* VastClient
    const reporter = yield* Reporter
    for (let failures = 1; ; failures++) {
      const found = yield* Effect.either(client.findEndpoint(endpointName))
      if (found._tag === "Right") return found.right satisfies Endpoint
      const error = found.left
      // Refused: nothing listens at the webserver's address (most often a local serverless not started), said at once.
      const refused = error._tag === "RequestFailed" && error.refused === true
      if (error._tag === "EndpointNotFound" || refused || !routeMayPass(error) || failures >= ROUTE_ATTEMPTS) return yield* error
      const retryIn = yield* retryDelay(failures - 1)
      yield* reporter.emit({
        event: "error",
        operation: "endpoint lookup",
        message: `${error.message} (${failures} of ${ROUTE_ATTEMPTS} in a row), asking again in ${seconds(retryIn)} s`,
        fatal: false
      })
      yield* Effect.sleep(retryIn)
    }
  })

/** The reservations of `mode` (in `--demo`, started `--interval` apart); failures are reported where they happen. */
const runMode = (endpointName: string, mode: Mode) =>
  Effect.gen(function* () {
    const reporter = yield* Reporter
    const reservations = yield* Reservations
    const endpoint = yield* lookUp(endpointName)
    yield* reporter.emit({ event: "endpoint", name: endpoint.name, id: endpoint.id })
    const hold = (duration: Duration.Duration) =>
      Effect.flatMap(reservations.held, (held) =>
        Effect.zipRight(reporter.emit({ event: "holding", seconds: seconds(duration), sessions: held.length }), Effect.sleep(duration))
      )

    if (mode._tag === "Single") {
      const session = yield* Effect.option(reservations.open(endpoint, 1))
      if (Option.isNone(session)) return
      // The hold is over early when the worker closes the session (its consumer released it, or it expired).
      yield* Effect.raceFirst(hold(mode.hold), reservations.gone(session.value.sessionId))
      return yield* reservations.close(session.value.sessionId)
    }

    // Reservation n starts (n - 1) intervals after the first, whether or not those before it have a worker yet: one
    // that cannot be placed holds back no other, and `--interval 0` starts them all at once.
    const outcomes = yield* Effect.forEach(
      Array.from({ length: mode.count }, (_, index) => index + 1),
      (reservation) => Effect.delay(Effect.option(reservations.open(endpoint, reservation)), Duration.times(mode.interval, reservation - 1)),
      { concurrency: "unbounded" }
    )
    const opened = outcomes.flatMap((session) => (Option.isSome(session) ? [session.value.sessionId] : []))
    // The plateau is over early once the workers have closed every session (their consumers released them): there is
    // nothing left to hold.
    yield* Effect.raceFirst(hold(mode.plateau), Effect.forEach(opened, reservations.gone, { concurrency: "unbounded", discard: true }))
    // One at a time, `--interval` apart; a session its worker has closed meanwhile has nothing to end and takes no turn,
    // also when it closes during the wait before its turn: the next one is then ended at once (review 47 L1).
    const stillHeld = (sessionId: string) => Effect.map(reservations.held, (held) => held.some((session) => session.sessionId === sessionId))
    let waitFirst = false
    for (const sessionId of opened) {
      if (!(yield* stillHeld(sessionId))) continue
      if (waitFirst) {
        yield* Effect.sleep(mode.interval)
        waitFirst = false
        if (!(yield* stillHeld(sessionId))) continue
      }
      yield* reservations.close(sessionId)
      waitFirst = true
    }
  })

/**
 * Run `mode` against the endpoint named `endpointName`. Interruption stops the mode where it is; the
 * open sessions are then ended (uninterruptibly) and the summary is reported.
 */
export const program = (endpointName: string, mode: Mode) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const reporter = yield* Reporter
      const reservations = yield* Reservations
      const exit = yield* Effect.exit(restore(runMode(endpointName, mode)))
      const interrupted = Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
      if (interrupted) yield* reporter.emit({ event: "interrupted" })
      // Creates and ends report their own failures; what reaches here is the lookup, or a defect.
      const failed = Exit.isFailure(exit) && !interrupted
      if (Exit.isFailure(exit) && failed) {
        yield* reporter.emit(
          Option.match(Cause.failureOption(exit.cause), {
            onSome: (error) => ({ event: "error", operation: "endpoint lookup", message: error.message, fatal: true }),
            onNone: () => ({ event: "error", operation: "internal", message: Cause.pretty(exit.cause), fatal: true })
          })
        )
      }
      yield* reservations.shutdown
      const tally = yield* reservations.tally
      const failures = tally.failures + (failed ? 1 : 0)
      yield* reporter.emit({ event: "done", created: tally.created, ended: tally.ended, closed: tally.closed, gone_with_worker: tally.goneWithWorker, closed_after_cut: tally.closedAfterCut, failures, interrupted })
      if (failures > 0) return yield* new RunFailed({ failures })
    })
  )
