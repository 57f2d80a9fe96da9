/**
 * When the worker should stop, and how urgently. The first SIGTERM/SIGINT (or `/pyworker/update`) asks for
 * a graceful stop: drain, then shut down. A second signal skips what is left of the drain window. Node's
 * own handling would kill the process on that second signal; our listeners stay installed until the end,
 * so it cannot.
 */
import { Deferred, Effect, Exit } from "effect"

export type StopReason = "SIGTERM" | "SIGINT" | "pyworker update" | "recycle"

export class StopSignal extends Effect.Service<StopSignal>()("worker/StopSignal", {
  scoped: Effect.gen(function* () {
    const requested = yield* Deferred.make<StopReason>()
    const hurried = yield* Deferred.make<void>()
    let signals = 0

    const onSignal = (signal: "SIGTERM" | "SIGINT") => {
      signals++
      if (signals === 1) Deferred.unsafeDone(requested, Exit.succeed(signal))
      else Deferred.unsafeDone(hurried, Exit.void)
    }
    const onTerm = () => onSignal("SIGTERM")
    const onInt = () => onSignal("SIGINT")
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        process.on("SIGTERM", onTerm)
        process.on("SIGINT", onInt)
      }),
      () =>
        Effect.sync(() => {
          process.off("SIGTERM", onTerm)
          process.off("SIGINT", onInt)
        })
    )

    return {
      /** Ask for a graceful stop (the first request wins; later ones hurry it). */
      request: (reason: StopReason) =>
        Effect.suspend(() => {
          signals++
          return signals === 1 ? Deferred.succeed(requested, reason) : Deferred.succeed(hurried, undefined)
        }).pipe(Effect.asVoid),
      /** Completes with the reason once a stop was asked for. */
      requested: Deferred.await(requested),
      /** Completes when a second stop request asks to skip the drain window. */
      hurried: Deferred.await(hurried),
      isRequested: Deferred.isDone(requested)
    }
  })
}) {}
