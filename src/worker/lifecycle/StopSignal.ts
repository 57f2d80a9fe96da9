/**
 * When the worker should stop, and how urgently. The first SIGTERM, SIGINT, SIGHUP (a closing terminal or ssh
 * session) or SIGUSR2 (nodemon's restart, which Node's default answers with a kill), or an authorized
 * `/pyworker/update`, asks for a graceful stop: drain, then shut down. A signal after that skips what is left of the
 * drain window, but for the first signal's echo (`signalEcho.ts`); a repeated `/pyworker/update` does not (a client
 * that retries its call must not cut the drain short). Node's own handling would kill the process on a signal; our
 * listeners stay installed while the service lives, and the worker program keeps one that ignores them after it
 * (`absorbLateSignals`).
 */
import { Deferred, Effect, Exit, Option, Runtime } from "effect"
import { unsafeMonotonicMillis } from "../../shared/monotonic.js"
import { ECHO_WINDOW_MS, isEcho, type SignalSeen } from "../../shared/signalEcho.js"

const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2"] as const
export type StopSignalName = (typeof SIGNALS)[number]

export type StopReason = StopSignalName | "pyworker update"

const ignore = () => undefined

/**
 * For the worker program, once it serves (its stop signal installed, awaited next): from then on each stop signal
 * always has a listener. The stop signal's own go with its scope, and a signal in the last milliseconds of a clean
 * stop (after them, before the exit) would otherwise kill the process by Node's default action, with no "worker
 * stopped" line (and no exit marker).
 */
export const absorbLateSignals = (): void => {
  for (const signal of SIGNALS) if (!process.listeners(signal).includes(ignore)) process.on(signal, ignore)
}

let interruptingSignalSeen = false
const see = () => {
  interruptingSignalSeen = true
}

/** The stop signals the runtime does not interrupt the program on: before the worker serves, each is passed on as SIGTERM. */
const FORWARDED = ["SIGHUP", "SIGUSR2"] as const
const isForwarded = (signal: StopSignalName): boolean => signal === "SIGHUP" || signal === "SIGUSR2"

/** Whether SIGHUP and SIGUSR2 are passed on as SIGTERM (`watchInterruptingSignals`), and whether the worker serves (`markServing`). */
let forwardingHangUp = false
let serving = false

/** The worker serves: from here its `StopSignal` handles SIGHUP and SIGUSR2, which are no longer passed on as SIGTERM. */
export const markServing = (): void => {
  serving = true
}

/**
 * SIGHUP or SIGUSR2 before the worker serves (while the layers build, during the bind retries, while a failed launch is
 * reported): a `StopSignal` built by then asks for a stop nobody awaits yet, the runtime interrupts the program on
 * SIGINT and SIGTERM only, and Node's default would kill it with no "worker stopped" line and no exit marker. So it
 * is passed on as SIGTERM, and is the same stop.
 */
const hangUpAsTerminate = () => {
  if (!serving) process.emit("SIGTERM", "SIGTERM")
}

/**
 * From the program's first line: whether SIGINT or SIGTERM has arrived, the two on which the runtime interrupts the
 * program. A start-up that ends interrupted after one is a stop; without one, it is a failure whose cause was lost
 * on the way (see main.ts). SIGHUP and SIGUSR2 are made ones of them until the worker serves.
 */
export const watchInterruptingSignals = (): (() => boolean) => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) if (!process.listeners(signal).includes(see)) process.on(signal, see)
  for (const signal of FORWARDED) if (!process.listeners(signal).includes(hangUpAsTerminate)) process.on(signal, hangUpAsTerminate)
  forwardingHangUp = true
  return () => interruptingSignalSeen
}

export class StopSignal extends Effect.Service<StopSignal>()("worker/StopSignal", {
  scoped: Effect.gen(function* () {
    const requested = yield* Deferred.make<StopReason>()
    const hurried = yield* Deferred.make<void>()

    // Whether `requested` is done, for the signal handlers, which run outside any fiber: a Deferred has no synchronous poll.
    let stopAsked = false
    const ask = (reason: StopReason) => {
      stopAsked = true
      Deferred.unsafeDone(requested, Exit.succeed(reason))
    }
    const clock = yield* Effect.clock
    // The signal handlers run outside any fiber.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    /** The first signal: its echo (`signalEcho.ts`, e.g. under `timeout`) must not cut the drain short. */
    let firstSignal: SignalSeen<StopSignalName> | null = null
    const onSignal = (signal: StopSignalName) => {
      // Before the worker serves, a SIGHUP or SIGUSR2 arrives again as SIGTERM (`hangUpAsTerminate`): once is enough.
      if (isForwarded(signal) && forwardingHangUp && !serving) return
      const at = unsafeMonotonicMillis(clock)
      if (firstSignal !== null && isEcho(firstSignal, signal, at)) {
        // Said, so that an operator who sent it twice on purpose knows why the drain goes on (probe 50 I1).
        runFork(Effect.logInfo(`${signal} again within ${ECHO_WINDOW_MS} ms of the first: taken as the same stop (its echo); send it again later to close the sessions now`))
        return
      }
      firstSignal ??= { signal, at }
      if (stopAsked) Deferred.unsafeDone(hurried, Exit.void)
      else ask(signal)
    }
    const handlers = SIGNALS.map((signal) => [signal, () => onSignal(signal)] as const)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        for (const [signal, handler] of handlers) process.on(signal, handler)
      }),
      () =>
        Effect.sync(() => {
          for (const [signal, handler] of handlers) process.off(signal, handler)
        })
    )

    return {
      /** Ask for a graceful stop; the first request wins, and asking again changes nothing. */
      request: (reason: StopReason) =>
        Effect.sync(() => {
          if (!stopAsked) ask(reason)
        }),
      /** An OS signal, as the handlers see it: the first asks for a graceful stop, a later one hurries it. */
      signal: (signal: StopSignalName) => Effect.sync(() => onSignal(signal)),
      /** Completes with the reason once a stop was asked for. */
      requested: Deferred.await(requested),
      /** The reason, when a stop was asked for; none when the worker stops for another reason (a failed start). */
      reason: Effect.flatMap(Deferred.poll(requested), Option.match({ onNone: () => Effect.succeedNone, onSome: Effect.asSome })),
      /** Completes when a signal came after the stop was asked for: skip the drain window. */
      hurried: Deferred.await(hurried),
      isRequested: Deferred.isDone(requested)
    }
  })
}) {}
