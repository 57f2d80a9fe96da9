/**
 * `npm run demo`: the whole reservation flow on this machine. It starts the local serverless (with the
 * README's recommended endpoint settings unless `--vast-defaults`), then the client in `--demo` mode
 * against it, and watches: workers scaling 0 → 1 → … → N and back to 0, every session's on_close
 * callback arriving. It exits 0 only if every session was created and ended cleanly, every callback
 * arrived once, and the endpoint scaled back to zero. Stopped by Ctrl-C (SIGINT) or SIGTERM, it stops the client
 * (which ends its sessions), then the serverless (which stops its workers), says so, and exits 130 or 143.
 */
import { fileURLToPath } from "node:url"
import { Command, ValidationError } from "@effect/cli"
import { HttpClient } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Data, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Schema } from "effect"
import { plainLogfmt } from "../shared/logging.js"
import { WorkerLauncher } from "../serverless/WorkerLauncher.js"
import { stopOnInterrupt } from "./stopOnInterrupt.js"
import { CLIENT_STARTING, clientProgressAfter, describeClientProgress } from "./clientPhase.js"
import { boundedJson } from "../shared/boundedBody.js"
import { answeredStandardFlags } from "../shared/cliHelp.js"
import { DEFAULT_INACTIVITY_SECONDS, help, options, SCALE_DOWN_SLACK_SECONDS } from "./cli.js"
import { runWithLogLevel } from "../shared/logLevelFlag.js"
import { rememberStopSignal } from "../shared/signalExitStatus.js"
import { VERSION } from "../shared/version.js"
import { exitAfterReader, readerGone, untilReaderGone, writeSafely } from "../shared/safeOutput.js"
import { boundedOutput } from "../shared/boundedOutput.js"
import { MAX_LIFETIME_SECONDS } from "../protocol/session.js"
import { withOneLineErrors } from "../shared/cliConsole.js"
import { outputWritten } from "../shared/outputWritten.js"
import { unsafeMonotonicMillis } from "../shared/monotonic.js"

const here = (file: string) => fileURLToPath(new URL(`./${file}`, import.meta.url))

const StatusSnapshot = Schema.Struct({
  workers: Schema.Array(Schema.Struct({ id: Schema.Number, state: Schema.String })),
  callbacks: Schema.Array(Schema.Struct({ path: Schema.String, body: Schema.Unknown }))
})

class DemoFailed extends Data.TaggedError("DemoFailed")<{ readonly message: string }> {}
/** Options that cannot work together, refused before anything starts: said as a bad option is, not as a failed run. */
class OptionsRefused extends Data.TaggedError("OptionsRefused")<{ readonly message: string }> {}

/** `[ 12.3 s]`: the time since the demo began watching, the stamp of every line it prints as it runs. */
const elapsedStamp = (millis: number): string => `[${(millis / 1000).toFixed(1).padStart(5)} s]`

/** The client's own stamp at the start of its lines (ISO wall time), replaced by the demo's. */
const CLIENT_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z /

/** The exit status a stop signal asks for, once one came (set up when the demo runs, not for `--help`). */
let stopSignal: () => number | null = () => null

/** What the demo was doing, for a timeout's message (one demo runs per process). */
let phase = "starting the serverless"

const demo = Command.make("demo", options, (opts) =>
  Effect.gen(function* () {
    // Vast's defaults keep workers (no inactivity_timeout): their demo waits for no scale-down, unless one is given.
    const inactivity = Option.orElse(opts.inactivityTimeout, () => (opts.vastDefaults ? Option.none() : Option.some(DEFAULT_INACTIVITY_SECONDS)))
    const expectZero = !opts.vastDefaults
    const scaleDownWait = Option.getOrElse(inactivity, () => DEFAULT_INACTIVITY_SECONDS) + SCALE_DOWN_SLACK_SECONDS
    if (expectZero && opts.timeout <= scaleDownWait) {
      const given = Option.isSome(opts.inactivityTimeout) ? "--inactivity-timeout" : `--inactivity-timeout's default ${DEFAULT_INACTIVITY_SECONDS}`
      // No --inactivity-timeout (above 0) brings the wait under the slack: only a longer --timeout helps then (newcomer 39 #5).
      const remedy = opts.timeout > SCALE_DOWN_SLACK_SECONDS ? "give a longer --timeout or a shorter --inactivity-timeout" : `give a --timeout above ${SCALE_DOWN_SLACK_SECONDS} s at the least`
      return yield* new OptionsRefused({
        message: `--timeout ${opts.timeout} is not above the wait for the scale-down alone (${given} + ${SCALE_DOWN_SLACK_SECONDS} = ${scaleDownWait} s): ${remedy}`
      })
    }
    const launcher = yield* WorkerLauncher
    const client = yield* HttpClient.HttpClient
    const say = (text: string) => Effect.sync(() => writeSafely(process.stdout, `${text}\n`))
    // The client's lines: a reader far behind costs lines, not memory (`boundedOutput.ts`); the demo's own are few.
    const relayed = boundedOutput(process.stdout)
    const clock = yield* Effect.clock
    /** The demo's start, as `--timeout` counts it: the origin of every stamp (monotonic: a wall clock stepped meanwhile printed `[3606.8 s]`, newcomer 36 #1). */
    const startedAt = unsafeMonotonicMillis(clock)
    /** When the demo began watching the serverless: stamps begin there. */
    let watching = false
    /** `text` stamped with the time since the start, as every line printed while the demo watches. */
    const stamped = (text: string) => (watching ? `${elapsedStamp(unsafeMonotonicMillis(clock) - startedAt)} ${text}` : text)
    const sayStamped = (text: string) => Effect.suspend(() => say(stamped(text)))
    // The client's own part, at the least (the starts, the plateau, the ends; worker starts and routing come on top):
    // a --timeout that the scale-down's wait passes is refused above, one that the whole run may pass is said here.
    // Rounded as written: 2 × 2 × 0.1 + 0.2 is 0.6000000000000001 in binary.
    const sessionsTake = Number((2 * (opts.count - 1) * opts.interval + opts.plateau).toFixed(3))
    const runTakes = sessionsTake + (expectZero ? scaleDownWait : 0)
    // Said as certain when the sessions alone outlast it: the run then ends by its timeout (a way to watch it for a
    // while), where "may" had read as a chance of passing (newcomer 39 #5).
    if (opts.timeout <= sessionsTake) {
      yield* say(`note: --timeout ${opts.timeout} s runs out before the sessions end (they take ${sessionsTake} s at the least: --count, --interval, --plateau): the demo will end by its timeout, and fail`)
    } else if (opts.timeout <= runTakes) {
      yield* say(
        `note: --timeout ${opts.timeout} s may run out: the sessions take ${sessionsTake} s at the least (--count, --interval, --plateau)${expectZero ? ` and the scale-down up to ${scaleDownWait} s after them` : ""}`
      )
    }
    const signalled = () => stopSignal() !== null

    // 1. The local serverless, on a free port.
    const listening = yield* Deferred.make<string>()
    const serverlessArgs = [
      here("serverless.js"),
      "--port", "0",
      "--api-key", "demo-key",
      "--endpoint", "null-demo",
      "--healthcheck-interval", "0.5",
      ...(opts.vastDefaults ? [] : ["--recommended"]),
      ...Option.match(inactivity, { onNone: () => [], onSome: (seconds) => ["--inactivity-timeout", String(seconds)] }),
      // The endpoint's default cap (20) would hold a larger --count waiting for a worker until the demo timed out.
      "--max-workers", String(Math.max(20, 2 * opts.count))
    ]
    const serverless = yield* launcher.launch(
      { name: "serverless", command: process.execPath, args: serverlessArgs, env: { PATH: process.env["PATH"] ?? "" } },
      (line) => {
        const url = /serverless listening on (http:\/\/[0-9.:]+)/.exec(line)?.[1]
        if (url !== undefined) Deferred.unsafeDone(listening, Effect.succeed(url))
      }
    )
    yield* stopOnInterrupt(serverless, "serverless", signalled, sayStamped)
    // Gone before it listened, or not listening in time: said with the serverless' own last lines, which say why.
    const url = yield* Deferred.await(listening).pipe(
      Effect.raceFirst(Effect.flatMap(serverless.exited, (outcome) => Effect.fail(`exited (${outcome}) before it listened`))),
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => "did not listen within 20 s" }),
      Effect.catchAll((why) =>
        Effect.flatMap(serverless.tail, (lines) =>
          Effect.fail(new DemoFailed({ message: `the serverless ${why}${lines.length === 0 ? "" : `; its last lines: ${lines.slice(-5).join(" | ")}`}` }))
        )
      )
    )
    yield* say(`local serverless on ${url} (status page: ${url}/)`)

    // 2. Watch the endpoint: print each change in the worker count and each callback.
    const fetchStatus = client.get(`${url}/status`).pipe(
      Effect.flatMap(boundedJson(StatusSnapshot)),
      Effect.scoped,
      Effect.option
    )
    let lastLine = ""
    let peak = 0
    let seenCallbacks = 0
    const sayNewCallbacks = (status: typeof StatusSnapshot.Type) =>
      Effect.gen(function* () {
        for (const callback of status.callbacks.slice(seenCallbacks)) {
          yield* sayStamped(`on_close callback: ${JSON.stringify(callback.body)}`)
        }
        seenCallbacks = status.callbacks.length
      })
    watching = true
    const watch = Effect.gen(function* () {
      for (;;) {
        const status = yield* fetchStatus
        if (Option.isSome(status)) {
          const workers = status.value.workers.filter((w) => w.state !== "stopping")
          // Each change of a worker's state, not only of their number: the plateau (every worker busy) is what the
          // demo is there to show (newcomer 35 #6: no line ever showed it).
          const states = workers.map((w) => `w${w.id}:${w.state}`).join(" ")
          const line = `workers: ${workers.length}${states === "" ? "" : `  ${states}`}`
          if (line !== lastLine) {
            yield* sayStamped(line)
            lastLine = line
            peak = Math.max(peak, workers.length)
          }
          yield* sayNewCallbacks(status.value)
        }
        yield* Effect.sleep("200 millis")
      }
    })
    const watcher = yield* Effect.forkScoped(watch)
    // Stopped by a signal (or --timeout), after the client's own stop, which ends its sessions (finalizers run in the
    // reverse order): their callbacks are said before the serverless stops, for up to 2 s (newcomer 35 #7: the watch
    // was stopped before they came).
    const lateCallbacks = Effect.gen(function* () {
      for (;;) {
        const status = yield* fetchStatus
        if (Option.isSome(status)) {
          const before = seenCallbacks
          yield* sayNewCallbacks(status.value)
          if (seenCallbacks === before && status.value.workers.every((w) => w.state !== "busy")) return
        }
        yield* Effect.sleep("200 millis")
      }
    })
    yield* Effect.addFinalizer((exit) =>
      Exit.isInterrupted(exit)
        ? Effect.zipRight(
            Fiber.interrupt(watcher),
            // Interruptible inside the finalizer, so that the 2 s bound holds even over a status call that hangs.
            Effect.interruptible(lateCallbacks).pipe(Effect.timeout("2 seconds"), Effect.ignore)
          )
        : Effect.void
    )

    // 3. The client, in --demo mode, against the serverless.
    let clientProgress = CLIENT_STARTING
    let clientPhaseKept = false
    phase = describeClientProgress(clientProgress, opts.count)
    const clientArgs = [
      here("client.js"),
      "--demo",
      "--endpoint", "null-demo",
      "--autoscaler-url", url,
      "--webserver-url", url,
      "--count", String(opts.count),
      "--interval", String(opts.interval),
      "--plateau", String(opts.plateau),
      // Within the worker's limit, whatever the --interval: the client keeps each session alive with pings anyway.
      "--lifetime", String(Math.min(MAX_LIFETIME_SECONDS, Math.max(10, 2 * opts.interval))),
      "--session-cost", String(opts.sessionCost),
      "--on-close-route", `${url}/callbacks/demo`
    ]
    // The client's lines on the demo's clock: its own timestamp (wall time) beside the demo's elapsed seconds could
    // not be lined up at a glance. Its blank lines (around its table) are left out.
    const clientProcess = yield* launcher.launch(
      { name: "client", command: process.execPath, args: clientArgs, env: { PATH: process.env["PATH"] ?? "", VAST_API_KEY: "demo-key" } },
      (line) => {
        if (line.trim() === "") return
        const own = line.replace(CLIENT_TIMESTAMP, "")
        relayed.write(`${stamped(`client | ${own}`)}\n`)
        if (clientPhaseKept) return
        clientProgress = clientProgressAfter(clientProgress, own)
        phase = describeClientProgress(clientProgress, opts.count)
      }
    )
    yield* stopOnInterrupt(clientProcess, "client", signalled, sayStamped)
    // Run first when the scope closes (a timeout's stop among them): the phase a timeout names is the one it came in, not
    // the client's ending of its sessions, which the stop itself starts.
    yield* Effect.addFinalizer(() => Effect.sync(() => (clientPhaseKept = true)))
    const clientExit = yield* clientProcess.exited

    // 4. Wait for scale-to-zero (and the last callbacks), then judge. Vast's defaults never scale to zero
    // (no inactivity_timeout, 5 cold workers kept), so with them only the callbacks are waited for.
    const deadline = Duration.seconds(scaleDownWait)
    phase = expectZero ? `waiting for the scale-down to zero (up to --inactivity-timeout + ${SCALE_DOWN_SLACK_SECONDS} s)` : "waiting for the last callbacks"
    // Nothing may change for a while (each worker lives --inactivity-timeout after its session): said, so that a wait
    // does not read as a hang.
    if (expectZero) yield* sayStamped(`waiting up to ${scaleDownWait} s (--inactivity-timeout + ${SCALE_DOWN_SLACK_SECONDS}) for the endpoint to scale back to zero`)
    yield* Effect.gen(function* () {
      for (;;) {
        const status = yield* fetchStatus
        const scaled = !expectZero || (Option.isSome(status) && status.value.workers.length === 0)
        if (Option.isSome(status) && scaled && status.value.callbacks.length >= opts.count) return
        yield* Effect.sleep("200 millis")
      }
    }).pipe(Effect.timeout(deadline), Effect.option)
    phase = "reading the endpoint's last status and stopping the serverless"
    yield* Effect.sleep("300 millis")
    const final = yield* fetchStatus
    yield* Fiber.interrupt(watcher)

    const callbacks = Option.match(final, { onNone: () => [], onSome: (s) => s.callbacks })
    const sessionIds = new Set(
      callbacks.flatMap((c) => (typeof c.body === "object" && c.body !== null && "session_id" in c.body ? [String(c.body.session_id)] : []))
    )
    const reasons = callbacks.map((c) => (typeof c.body === "object" && c.body !== null && "close_reason" in c.body ? String(c.body.close_reason) : "none given"))
    // The client ends every session, unless its consumer releases it first (a `POST /release` on the worker, which
    // both READMEs invite during the plateau): a close for another reason (an expiry, a shutdown) is a session lost.
    const released = reasons.filter((reason) => reason === "released").length
    const lost = reasons.filter((reason) => reason !== "ended" && reason !== "released")
    const workersLeft = Option.match(final, { onNone: () => -1, onSome: (s) => s.workers.length })
    const problems = [
      ...(clientExit === "0" ? [] : [`the client exited with ${clientExit}`]),
      ...(callbacks.length === opts.count && sessionIds.size === opts.count
        ? []
        : [`expected ${opts.count} callbacks for ${opts.count} sessions, got ${callbacks.length} for ${sessionIds.size}`]),
      ...(lost.length === 0 ? [] : [`${lost.length} session(s) closed by the worker, neither ended by the client nor released by a consumer (close_reason: ${lost.join(", ")})`]),
      ...(workersLeft === 0 || !expectZero
        ? []
        : [`the endpoint did not scale back to zero within ${scaleDownWait} s of the last session (--inactivity-timeout + ${SCALE_DOWN_SLACK_SECONDS}; ${workersLeft} workers left)`])
    ]
    yield* serverless.stop
    yield* say("")
    yield* say(`peak workers: ${peak}; callbacks: ${callbacks.length}; workers left: ${workersLeft}`)
    if (problems.length > 0) return yield* new DemoFailed({ message: problems.join("; ") })
    const sessions = opts.count === 1 ? "1 session" : `${opts.count} sessions`
    const closed = released === 0 ? "ended" : `closed (${opts.count - released} ended by the client, ${released} released by a consumer)`
    yield* say(
      expectZero
        ? `demo OK: ${sessions} created and ${closed}, every callback arrived once, scaled back to zero`
        : `demo OK: ${sessions} created and ${closed}, every callback arrived once; with Vast's defaults the workers stay (${Option.isNone(inactivity) ? "no inactivity_timeout, " : ""}cold_workers 5 keeps up to 5 idle ones, none started in advance, and target_util 0.9 keeps a spare)`
    )
  }).pipe(
    Effect.scoped,
    Effect.timeoutFail({ duration: Duration.seconds(opts.timeout), onTimeout: () => new DemoFailed({ message: `the demo timed out (${phase})` }) }),
    // One line, as every other failure of the command lines; the exit status says the rest.
    Effect.tapErrorTag("DemoFailed", (error) => Console.error(`demo FAILED: ${error.message}`)),
    Effect.tapErrorTag("OptionsRefused", (error) => Console.error(error.message))
  )
)

const cli = Command.run(demo, { name: "null-worker demo", version: VERSION })

if (!answeredStandardFlags(process.argv.slice(2), "null-worker demo", help)) {
  const stoppedBy = rememberStopSignal()
  stopSignal = stoppedBy
  // Read through `| head`: once the reader has gone, the demo stops in order, as on Ctrl-C, rather than running on unread.
  const reader = readerGone(process.stdout)
  untilReaderGone(
    withOneLineErrors(runWithLogLevel(cli, process.argv), help),
    // The serverless's own grace for its workers must fit inside the grace it gets.
    Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, WorkerLauncher.layer({ grace: Duration.times(WorkerLauncher.defaultGrace, 2) }), plainLogfmt),
    reader
  ).pipe(
    // A failure the demo or @effect/cli (a bad option) said already is not said again; anything else is a bug, shown whole.
    Effect.tapErrorCause((cause) =>
      Cause.isInterruptedOnly(cause) || Option.exists(Cause.failureOption(cause), (error) => error._tag === "DemoFailed" || error._tag === "OptionsRefused" || ValidationError.isValidationError(error))
        ? Effect.void
        : Console.error(`demo: ${Cause.pretty(cause)}`)
    ),
    // A stop's last lines reach a reader behind on a pipe before the exit (`outputWritten.ts`).
    Effect.ensuring(outputWritten()),
    NodeRuntime.runMain({
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: (exit, onExit) => onExit(stoppedBy() ?? exitAfterReader(reader, "demo", Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? 1 : 0))
    })
  )
}
