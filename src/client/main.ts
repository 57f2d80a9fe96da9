/**
 * `node dist/client.js`: reserve workers of a Vast.ai Serverless endpoint that runs the null worker,
 * composed here and nowhere else.
 *
 * Exit status: 0 when the endpoint was found and every create and every end succeeded; 1 otherwise,
 * or on a bad option or environment. Ctrl-C and SIGTERM end every open session, then exit the same way.
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
import { Cause, Config, Console, Effect, Exit, Layer, Logger, Option, Redacted } from "effect"
import { options, toRun, type Run } from "./cli.js"
import { ApiKeyMissing, RunFailed } from "./errors.js"
import * as HttpStack from "./httpClient.js"
import { program } from "./program.js"
import { Reporter, type Write } from "./Reporter.js"
import { Reservations } from "./Reservations.js"
import { VastClient } from "./VastClient.js"

const stdout: Write = (text) => Effect.sync(() => void process.stdout.write(text))

const apiKey = Config.redacted("VAST_API_KEY").pipe(
  Config.option,
  Effect.map(Option.filter((key) => Redacted.value(key).trim() !== "")),
  Effect.flatMap(Option.match({ onNone: () => Effect.fail(new ApiKeyMissing()), onSome: Effect.succeed })),
  Effect.catchTag("ConfigError", () => Effect.fail(new ApiKeyMissing()))
)

const reporterLayer = (run: Run) =>
  run.json ? Reporter.layerJson(stdout) : process.stdout.isTTY ? Reporter.layerLive(stdout) : Reporter.layerPlain(stdout)

const execute = (run: Run) =>
  Effect.gen(function* () {
    const key = yield* apiKey
    const client = VastClient.layer({ apiKey: key, autoscalerUrl: run.autoscalerUrl, webserverUrl: run.webserverUrl }).pipe(
      Layer.provide(HttpStack.layer(run.caFile))
    )
    const app = Reservations.layer(run.policy).pipe(Layer.provideMerge(client), Layer.provideMerge(reporterLayer(run)))
    return yield* program(run.endpoint, run.mode).pipe(Effect.provide(app))
  }).pipe(
    // Failures of the run itself were reported as events; these are the ones that stop it from starting.
    Effect.catchTags({
      ApiKeyMissing: (error) => Effect.zipRight(Console.error(error.message), Effect.fail(new RunFailed({ failures: 0 }))),
      CaFileInvalid: (error) => Effect.zipRight(Console.error(error.message), Effect.fail(new RunFailed({ failures: 0 })))
    })
  )

const command = Command.make("client", options, (parsed) => execute(toRun(parsed)))

const cli = Command.run(command, { name: "null-worker client", version: "0.1.0" })

// stdout carries the events (JSON lines with --json): logs go to stderr.
const StderrLogger = Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))

cli(process.argv).pipe(
  Effect.provide(Layer.merge(NodeContext.layer, StderrLogger)),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    disablePrettyLogger: true,
    // A signal interrupts the run, which ends its sessions and then finishes: its exit is then
    // "interrupted", and only a failure (RunFailed, a bad option) makes the status non-zero.
    teardown: (exit, onExit) => onExit(Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? 1 : 0)
  })
)
