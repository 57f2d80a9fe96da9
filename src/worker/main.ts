/**
 * The null worker process, composed here and nowhere else.
 *
 * The worker runs until a stop is asked for (SIGTERM/SIGINT, or `/pyworker/update`); then its scope closes
 * and `Shutdown` stops it in order (drain, close, listeners, callbacks, last report), and the process
 * exits 0. If the worker cannot launch (bad environment, unreadable certificate, a port still taken after
 * retries), it says why once and, when it knows where the autoscaler is, keeps reporting the error there
 * every 10 s until it is stopped, so the autoscaler can replace it (vast-protocol.md §6.5).
 */
import { httpClientClosingUpgraded } from "../shared/closeUpgraded.js"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Config, ConfigProvider, Context, Effect, Either, Exit, Layer, Option, Schema } from "effect"
import { hostsFirstLookup } from "../shared/hostsFirstLookup.js"
import { keepAliveHttpClient } from "../shared/keepAliveHttpClient.js"
import * as Logging from "../shared/logging.js"
import { stopWhenOrphaned } from "../shared/orphanWatch.js"
import { outputWritten } from "../shared/outputWritten.js"
import { handledEnvProgramArgs } from "../shared/envProgramArgs.js"
import { SignatureVerifier } from "./auth/SignatureVerifier.js"
import { describeLaunchFailure, reportLaunchFailure } from "./autoscaler/launchFailure.js"
import { exitMarkerSetting, markerKeepsSetting, WorkerConfig, youngGenerationSetting } from "./config/WorkerConfig.js"
import { helpText } from "./envReference.js"
import { HealthProber } from "./health/HealthProber.js"
import { Shutdown } from "./lifecycle/Shutdown.js"
import { lowerHelperThreads } from "./lifecycle/helperThreads.js"
import { capYoungGeneration } from "./lifecycle/youngGeneration.js"
import { keepInspectorClosed } from "./lifecycle/inspectorSignal.js"
import { notedStartFailure } from "./lifecycle/startFailure.js"
import { anotherWorkerServes, refuseDuplicate } from "./lifecycle/duplicateLaunch.js"
import { ListenFailed } from "./http/WireServer.js"
import { JournalUnavailable } from "./callbacks/journal/OutboxJournal.js"
import { startupLine } from "./lifecycle/startupLine.js"
import { writeExitMarker } from "./lifecycle/exitMarker.js"
import { takeEarlySignal } from "../shared/earlyProcess.js"
import { absorbLateSignals, markServing, StopSignal, watchInterruptingSignals } from "./lifecycle/StopSignal.js"

if (handledEnvProgramArgs(process.argv.slice(2), "null-worker", `${helpText()}\n`)) process.exit()

const stopAsked = watchInterruptingSignals()
keepInspectorClosed()

// Lifecycle (readiness, health) is one of Shutdown's dependencies: it runs until the stop is done.
const Worker = Layer.mergeAll(Shutdown.Default, StopSignal.Default).pipe(
  Layer.provide(SignatureVerifier.layerFromConfig),
  Layer.provide(HealthProber.layerFromConfig),
  // Health probes and the public key go to the same few servers again and again (callbacks have their own client).
  // A health URL's `localhost` or name of /etc/hosts is found without the thread pool, which hung lookups can hold.
  Layer.provide(keepAliveHttpClient({ lookup: hostsFirstLookup() })),
  Layer.provideMerge(WorkerConfig.layerFromEnv)
)

/** Serve until a stop is asked for; leaving the scope runs the shutdown sequence. */
const serve = Effect.scoped(
  Effect.gen(function* () {
    // Before the services start, so that their start-up grows the young generation within the cap and the shutdown,
    // which closes them first, still runs under it. A bad value is the launch failure WorkerConfig reports.
    const youngGeneration = yield* capYoungGeneration(yield* Effect.orElseSucceed(youngGenerationSetting, () => 0))
    const youngGenerationNamed = Option.isSome(yield* Effect.orElseSucceed(Config.option(Config.string("YOUNG_GENERATION_MB")), () => Option.none()))
    const context = yield* Layer.build(Worker)
    absorbLateSignals()
    markServing()
    yield* stopWhenOrphaned
    const config = Context.get(context, WorkerConfig)
    const helpers = yield* Effect.sync(() => lowerHelperThreads(config.helperThreadNice))
    yield* startupLine(config, helpers, youngGeneration, youngGenerationNamed)
    yield* Context.get(context, StopSignal).requested
  })
)

/**
 * Interrupted with no stop asked for: a failure while the layers built that reached here as a bare interruption
 * (seen with a layer several services share, `CallbackPoster`, failing: Effect 3.22's memo map hands the others an
 * interruption, and the failure itself was lost). The service that failed noted why; failing that, the log line
 * before says it.
 */
/** A failure at what another worker on the instance would hold: a port, or the journal's lock. */
const isContention = (error: unknown): boolean =>
  (error instanceof ListenFailed && error.code === "EADDRINUSE") || (error instanceof JournalUnavailable && error.lockHolder !== null)

const lostStartFailure = (cause: Cause.Cause<unknown>) =>
  Cause.isInterruptedOnly(cause) && !stopAsked()
    ? Option.some(notedStartFailure() ?? "start-up was interrupted with no stop asked for (the error logged before this line says why)")
    : Option.none()

const launched = serve.pipe(
  Effect.catchAllCause((cause) => {
    const lost = lostStartFailure(cause)
    // Only interruption (a signal while starting) is a plain stop. A listener that fails to bind interrupts
    // its siblings, so a real failure arrives mixed with interruptions: look for the failure itself.
    return Option.isNone(Cause.failureOption(cause)) && Cause.defects(cause).length === 0 && Option.isNone(lost)
      ? Effect.void
      : Effect.gen(function* () {
          // A service that failed to start noted why in its own words (a journal in use, say), however its failure
          // reached here: as an interruption, or as a defect named by its class.
          const described = Option.getOrElse(lost, () => notedStartFailure() ?? describeLaunchFailure(cause))
          // A duplicate launch fails at a taken port, or at OUTBOX_FILE's lock, whichever comes first; two started in
          // the same moment both passed the check made before anything was built (probe 55 #1: the one that lost the
          // journal's lock reported the healthy worker's instance broken). Whatever failed, a worker serving this
          // instance is not to be reported broken: asked for every failure (nothing listening costs a refused connect).
          const failure = Cause.failureOption(cause)
          const contended = Option.isSome(lost) || (Option.isSome(failure) && isContention(failure.value))
          if (yield* anotherWorkerServes(contended)) {
            yield* Effect.logError(`${described}: another null worker already serves this instance; not reporting, exiting`)
            return yield* Effect.die(new Error("duplicate worker"))
          }
          // The pid makes the report this process's own, should two workers ever report for one instance.
          const reason = `Worker Server failed to launch: ${described} (pid ${process.pid})`
          // A defect is a bug: its stack stays here, in the local log; the report gets the one line.
          yield* Cause.defects(cause).length > 0 ? Effect.logError(reason, cause) : Effect.logError(reason)
          yield* reportLaunchFailure(reason)
        })
  })
)

const program = Effect.zipRight(refuseDuplicate, launched)

// The end of a deliberate stop: the exit marker (scripts/start-vast.sh reports a worker gone without it as
// killed), then the last line.
const stopped = ([marker, keep]: readonly [Option.Option<string>, ReadonlyArray<string>]) =>
  Effect.zipRight(writeExitMarker(marker, process.pid, keep), Effect.logInfo("worker stopped"))

// Read on its own, like the log settings: a stop after a failed launch is deliberate too. A bad value is
// that launch failure, and leaves no marker. With it, the journal it must never be written over.
const exitMarkerFile = Effect.all([exitMarkerSetting, markerKeepsSetting]).pipe(Effect.withConfigProvider(ConfigProvider.fromEnv()))

// Logging is read on its own, before the rest of the configuration: a bad setting must still be reported.
const logging = Effect.map(
  Effect.either(
    Config.all({
      format: Schema.Config("LOG_FORMAT", Logging.LogFormat).pipe(Config.withDefault<Logging.LogFormat>("logfmt")),
      level: Schema.Config("LOG_LEVEL", Logging.LogLevelName).pipe(Config.withDefault<Logging.LogLevelName>("info"))
    })
  ),
  (settings) => Either.getOrElse(settings, (): { format: Logging.LogFormat; level: Logging.LogLevelName } => ({ format: "logfmt", level: "info" }))
).pipe(Effect.withConfigProvider(ConfigProvider.fromEnv()))

NodeRuntime.runMain(
  Effect.flatMap(Effect.all([logging, exitMarkerFile]), ([settings, marker]) =>
    program.pipe(
      Effect.ensuring(stopped(marker)),
      // No spans: nothing here exports traces, and each report and request would still build them.
      Effect.provide(Layer.mergeAll(Logging.layer(settings), httpClientClosingUpgraded(), Layer.setTracerEnabled(false))),
      // The outcome as a value: a failure was logged where it happened, and a failed root fiber would be logged again
      // (at debug, with its stack) after the last line.
      Effect.exit,
      // After the logger's last flush, also when a signal interrupted the program: the exit that follows would drop what
      // a pipe's reader has not taken yet.
      Effect.ensuring(outputWritten())
    )
  ),
  {
    disableErrorReporting: true,
    disablePrettyLogger: true,
    // Exit as soon as the program ends: a leftover handle must not keep a stopped worker alive.
    teardown: (outer, onExit) => {
      const exit: Exit.Exit<unknown, unknown> = Exit.isSuccess(outer) && Exit.isExit(outer.value) ? outer.value : outer
      const code = exit._tag === "Success" || Cause.isInterruptedOnly(exit.cause) ? 0 : 1
      onExit(code)
      process.exit(code)
    }
  }
)

// A stop signal that came while the bundle loaded, kept by the boot (`earlyProcess.ts`): now that the runtime's
// handlers exist, it stops the worker as a later one would.
const earlySignal = takeEarlySignal()
if (earlySignal !== null) process.emit(earlySignal, earlySignal)
