/**
 * `node dist/client.js`: reserve workers of a Vast.ai Serverless endpoint that runs the null worker;
 * `node dist/client.js doctor`: check the endpoint's settings. Composed here and nowhere else.
 *
 * Exit status: 0 when the endpoint was found and every create and every end succeeded; 1 otherwise,
 * or on a bad option or environment; 130 after Ctrl-C (SIGINT) and 143 after SIGTERM, as a shell
 * reports a process a signal stopped, although the client first ends every open session and prints
 * its final table. A second Ctrl-C quits at once, naming the sessions it leaves open. The doctor exits 0 when nothing is risky, 1 otherwise.
 *
 * A 410 from `/session/end` (or `/ping`) means the worker had already closed the session: it expired,
 * or the consumer on the instance released it with `/release`, the documented local release path. The
 * reservation is over, which is what ending it was for, so it is reported (`closed`) but is not a
 * failure. Failures are what leaves the user unsure whether a worker is still held: a create that
 * never succeeded, or an end that got no answer, a 400 (unknown session) or any other status.
 * Events go to stdout; logs, if any, to stderr.
 */
import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { randomUUID } from "node:crypto"
import { writeSync } from "node:fs"
import { Cause, Clock, Console, Data, DateTime, Effect, Either, Exit, Layer, Logger, Option } from "effect"
import { answeredStandardFlags, completionOptionsOf } from "../shared/cliHelp.js"
import { runWithLogLevel } from "../shared/logLevelFlag.js"
import { quitBySignal, rememberStopSignal, type StopSignalName } from "../shared/signalExitStatus.js"
import { endBySignal } from "../shared/endBySignal.js"
import { VERSION } from "../shared/version.js"
import { AutoscaleReporter } from "./autoscale/AutoscaleReporter.js"
import { runAutoscaler } from "./autoscale/Autoscaler.js"
import { listBacklog, streamBacklog } from "./autoscale/Backlog.js"
import { flags as autoscaleFlags, autoscaleHelp, autoscaleOptions, type AutoscaleRun, toAutoscaleRun } from "./autoscale/cli.js"
import { Holdings } from "./autoscale/Holdings.js"
import { countCap } from "./autoscale/scalingRule.js"
import { connectRedis } from "./autoscale/redis.js"
import { StateStore } from "./autoscale/StateStore.js"
import { localKeyWarningFromEnv } from "./localKey.js"
import { shortLifetimeWarning } from "./shortLifetime.js"
import { clientFlags, clientHelp, doctorFlags, doctorHelp, doctorOptions, type DoctorRun, halfLocalWarning, modeConflict, options, toDoctorRun, toRun, type Run } from "./cli.js"
import { diagnose, renderJson, renderText } from "./doctor.js"
import { apiKeyFromEnv } from "./apiKey.js"
import { type ApiKeyMissing, type CaFileInvalid, RunFailed } from "./errors.js"
import * as HttpStack from "./httpClient.js"
import { program } from "./program.js"
import { Reporter, type Write } from "./Reporter.js"
import { type LeftOpenLedger, leftOpenJson, leftOpenLine, makeLeftOpenLedger, watchedBy } from "./leftOpen.js"
import { eventOutput } from "./eventOutput.js"
import { Reservations } from "./Reservations.js"
import { terminalWidth } from "./terminalWidth.js"
import { VastClient } from "./VastClient.js"
import { exitAfterReader, readerGone, untilReaderGone, writeSafely } from "../shared/safeOutput.js"
import { stopWhenOrphaned } from "../shared/orphanWatch.js"
import { withOneLineErrors } from "../shared/cliConsole.js"
import { outputWritten } from "../shared/outputWritten.js"

/** How a run reports: JSON lines with `--json`, a live view on a terminal, plain lines into a pipe. */
const reporterFor = <L>(
  json: boolean,
  reporter: { readonly layerJson: (write: Write) => L; readonly layerLive: (write: Write, columns: () => number) => L; readonly layerPlain: (write: Write) => L }
): L => {
  const stdout = eventOutput(process.stdout, json)
  return json ? reporter.layerJson(stdout) : process.stdout.isTTY ? reporter.layerLive(stdout, terminalWidth(process.stdout)) : reporter.layerPlain(stdout)
}

/** The client for the URLs of a run, over the HTTP stack (`--ca-file`). */
const clientLayer = (settings: { readonly autoscalerUrl: string; readonly webserverUrl: string; readonly caFile: Option.Option<string> }) =>
  Effect.map(apiKeyFromEnv, (key) =>
    VastClient.layer({ apiKey: key, autoscalerUrl: settings.autoscalerUrl, webserverUrl: settings.webserverUrl }).pipe(
      Layer.provide(HttpStack.layer(settings.caFile))
    )
  )

/** What stops a run before it starts is said on stderr, in one line; the status is 1. */
const cannotStart = {
  ApiKeyMissing: (error: ApiKeyMissing) => Effect.zipRight(Console.error(error.message), Effect.fail(new RunFailed({ failures: 0 }))),
  CaFileInvalid: (error: CaFileInvalid) => Effect.zipRight(Console.error(error.message), Effect.fail(new RunFailed({ failures: 0 })))
}

/**
 * What the last words of a second stop signal need (`leftOpen.ts`): the run's sessions as its events tell them, and
 * whether its events are JSON lines. The one state the run (which fills it) shares with the signal's handler (which
 * reads it outside the runtime, as the process quits).
 */
interface LastWords {
  readonly ledger: LeftOpenLedger
  json: boolean
}
const lastWords: LastWords = { ledger: makeLeftOpenLedger(), json: false }
const liveClock = Clock.make()

/** Before a second stop signal quits the run: what it leaves open, on stderr, and as the last JSON line with `--json`. */
const sayLeftOpen = ({ json, ledger }: LastWords, signal: StopSignalName | "SIGQUIT") => {
  const sessions = ledger.leftOpen()
  const reserving = ledger.reserving()
  // Written past the streams, which the quit does not wait for: where a stream still holds text for a reader behind, a
  // line written now would land inside it, so the JSON line is left out then, and the line on stderr starts afresh.
  const jsonWritten = json && process.stdout.writableLength === 0
  const unwritten = json && !jsonWritten ? " (its --json quit event is not written: the output's reader was behind)" : ""
  // Best effort: the process ends next, whatever a write does.
  try {
    writeSync(2, `${process.stderr.writableLength > 0 ? "\n" : ""}${leftOpenLine(signal, sessions, reserving).slice(0, -1)}${unwritten}\n`)
  } catch {}
  if (!jsonWritten) return
  try {
    writeSync(1, leftOpenJson(signal, sessions, reserving, DateTime.unsafeMake(liveClock.unsafeCurrentTimeMillis())))
  } catch {}
}

const execute = (run: Run, words: LastWords) =>
  Effect.gen(function* () {
    const client = yield* clientLayer(run)
    yield* Effect.sync(() => {
      words.json = run.json
    })
    const reporter = watchedBy(words.ledger).pipe(Layer.provide(reporterFor(run.json, Reporter)))
    const app = Reservations.layer(run.policy).pipe(Layer.provideMerge(client), Layer.provideMerge(reporter))
    return yield* program(run.endpoint, run.mode).pipe(Effect.provide(app))
  }).pipe(Effect.catchTags(cannotStart))

const stopWith = (error: { readonly message: string }) => Effect.zipRight(Console.error(error.message), Effect.fail(new RunFailed({ failures: 1 })))
/** A failure the daemon has already reported as a fatal `error` event: only the status is left to give. */
const stopSaid = () => Effect.fail(new RunFailed({ failures: 1 }))

/** The daemon: Redis, the backlog, its records, its reservations; runs until interrupted. */
const executeAutoscale = (run: AutoscaleRun) =>
  Effect.gen(function* () {
    const client = yield* clientLayer(run)
    const redis = yield* connectRedis(run.redisUrl)
    const backlog =
      run.source._tag === "List"
        ? listBacklog(redis, run.source.key, run.source.inFlightKey)
        : streamBacklog(redis, run.source.key, run.source.group, countCap(run.planner))
    const app = Holdings.layer(run.holdings).pipe(
      Layer.provideMerge(Layer.mergeAll(client, StateStore.layerRedis(redis, run.prefix), reporterFor(run.json, AutoscaleReporter))),
      Layer.merge(backlog)
    )
    yield* runAutoscaler({
      endpoint: run.endpoint,
      prefix: run.prefix,
      planner: run.planner,
      interval: run.interval,
      leaseMs: run.leaseMs,
      ownerTtlMs: run.ownerTtlMs,
      token: randomUUID()
    }).pipe(Effect.provide(app))
  }).pipe(
    Effect.scoped,
    Effect.catchTags({
      ...cannotStart,
      // The endpoint lookup's failures that asking again cannot fix (`persist`) were said as fatal events.
      EndpointNotFound: stopSaid,
      UnexpectedResponse: stopSaid,
      OwnershipLost: stopWith,
      // The start-up steps retry these until they succeed: reaching here is not expected, but is said.
      RequestFailed: stopWith,
      RedisFailed: stopWith
    })
  )

/** Warnings found before a run starts, one line each on stderr. */
const sayWarnings = (warnings: ReadonlyArray<string | null>) =>
  Effect.forEach(warnings, (warning) => (warning === null ? Effect.void : Console.error(warning)), { discard: true })

const autoscaleSubcommand = Command.make("autoscale", autoscaleOptions, (parsed) =>
  Either.match(toAutoscaleRun(parsed), {
    onLeft: (error) => Effect.zipRight(Console.error(error.message), Effect.fail(new RunFailed({ failures: 0 }))),
    onRight: (run) => Effect.zipRight(Effect.flatMap(localKeyWarningFromEnv([run.autoscalerUrl, run.webserverUrl]), (warning) => sayWarnings([warning])), executeAutoscale(run))
  })
)
const autoscaleCommand = Command.run(autoscaleSubcommand, { name: "null-worker client autoscale", version: VERSION })

/** The doctor found something risky (or could not look): the status is 1. */
class DoctorFailed extends Data.TaggedError("DoctorFailed")<{}> {}

const executeDoctor = (run: DoctorRun) =>
  Effect.gen(function* () {
    const client = yield* clientLayer(run)
    const report = yield* diagnose({ endpoint: run.endpoint, sessions: run.sessions, worker: run.worker }).pipe(Effect.provide(client))
    yield* Effect.sync(() => writeSafely(process.stdout, run.json ? renderJson(report) : renderText(report)))
    if (!report.ok) return yield* new DoctorFailed()
  }).pipe(Effect.catchTags(cannotStart))

// Checked once the values are (a `--count 1.5` is told about first).
const clientCommand = Command.run(Command.make("null-worker-client", options, (parsed) => {
  const conflict = modeConflict(process.argv.slice(2))
  if (conflict !== null) return Effect.zipRight(Console.error(conflict), Effect.fail(new RunFailed({ failures: 0 })))
  const heldSeconds = parsed.demo ? parsed.interval * (parsed.count - 1) + parsed.plateau : parsed.hold
  const run = toRun(parsed)
  return Effect.gen(function* () {
    const warnings = [halfLocalWarning(parsed, parsed.instance), shortLifetimeWarning({ lifetime: parsed.lifetime, heldSeconds }), yield* localKeyWarningFromEnv([run.autoscalerUrl, run.webserverUrl])]
    yield* sayWarnings(warnings)
    return yield* execute(run, lastWords)
  })
}), {
  name: "null-worker client",
  version: VERSION
})
const doctorSubcommand = Command.make("doctor", doctorOptions, (parsed) =>
  Effect.gen(function* () {
    const run = toDoctorRun(parsed)
    // The doctor never calls the autoscaler.
    yield* sayWarnings([halfLocalWarning(parsed, parsed.instance, false), yield* localKeyWarningFromEnv([run.webserverUrl], "add --instance local (or give --webserver-url)")])
    return yield* executeDoctor(run)
  })
)
const doctorCommand = Command.run(doctorSubcommand, { name: "null-worker client doctor", version: VERSION })

// stdout carries the events (JSON lines with --json): logs go to stderr.
const StderrLogger = Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))

/**
 * The whole program, for `--completions`: the client's flags and its subcommands' in one script, each as its completion
 * sees it (`--instance`'s values listed); never run.
 */
const wholeProgram = Command.make("null-worker-client", completionOptionsOf(clientFlags)).pipe(
  Command.withSubcommands([Command.make("doctor", completionOptionsOf(doctorFlags)), Command.make("autoscale", completionOptionsOf(autoscaleFlags))])
)

const [node = "node", script = "client.js", ...args] = process.argv
const doctor = args[0] === "doctor"
const autoscale = args[0] === "autoscale"
const helpPage = doctor ? doctorHelp : autoscale ? autoscaleHelp : clientHelp
if (!answeredStandardFlags(doctor || autoscale ? args.slice(1) : args, "null-worker-client", helpPage, wholeProgram, doctor || autoscale ? [] : ["doctor", "autoscale"])) {
  // A signal ends the run's sessions first (an interruption), then sets the exit status.
  const stoppedBy = doctor || autoscale ? rememberStopSignal() : rememberStopSignal(undefined, (signal) => {
    sayLeftOpen(lastWords, signal)
    quitBySignal(signal)
  })
  // SIGQUIT (Ctrl-\) is the terminal's "quit now": as a second stop signal, it quits at once, but first names the
  // sessions it leaves open (Node's default would end the process without a word). Its listener goes before it is
  // raised again, so Node's default then ends the process (status 131); as PID 1, where that default is dropped (and
  // the client had pinged on after saying it quit: probe 58 #6), it exits 131 itself.
  if (!doctor && !autoscale) {
    process.once("SIGQUIT", () => {
      sayLeftOpen(lastWords, "SIGQUIT")
      endBySignal("SIGQUIT")
    })
  }
  const main = doctor
    ? runWithLogLevel(doctorCommand, [node, script, ...args.slice(1)])
    : autoscale
      ? runWithLogLevel(autoscaleCommand, [node, script, ...args.slice(1)])
      : runWithLogLevel(clientCommand, process.argv)
  // Holding workers for a reader that has gone (`| head` has its lines) serves no one: the run stops in order, its
  // sessions ended, as on Ctrl-C. Not the daemon's: it runs until it is stopped, whoever reads its view; not the
  // doctor's, whose one report is its last write.
  const reader = doctor || autoscale ? null : readerGone(process.stdout)
  // The run stops whole (its sessions ended) before the exit waits for its output (`untilReaderGone`).
  const run = reader === null ? main : untilReaderGone(main, Layer.empty, reader)
  // Started by the demo, it stops (ending its sessions) if the demo is killed outright.
  withOneLineErrors(Effect.scoped(Effect.zipRight(stopWhenOrphaned, run)), helpPage).pipe(
    Effect.provide(Layer.merge(NodeContext.layer, StderrLogger)),
    // A run's last lines (its table, a failure) reach a reader behind on a pipe before the exit (`outputWritten.ts`).
    Effect.ensuring(outputWritten()),
    NodeRuntime.runMain({
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: (exit, onExit) => {
        const status = Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? 1 : 0
        // The daemon's job is to run until it is stopped: a signal is its normal end.
        if (stoppedBy() !== null && autoscale) return onExit(status)
        onExit(stoppedBy() ?? (reader === null ? status : exitAfterReader(reader, "null-worker-client", status)))
      }
    })
  )
}
