/**
 * How the examples' runners start: `--version` and `--help` as every program answers them (one line; the runner's
 * own help page, with defaults); otherwise the command, with the process launcher, Node's context and logfmt logs.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ValidationError } from "@effect/cli"
import { Cause, Console, Effect, Exit, Layer, Option } from "effect"
import { plainLogfmt } from "../src/shared/logging.js"
import { WorkerLauncher } from "../src/serverless/WorkerLauncher.js"
import { describeCause } from "../src/shared/causeLine.js"
import { answeredStandardFlags } from "../src/shared/cliHelp.js"
import { runWithLogLevel } from "../src/shared/logLevelFlag.js"
import { withOneLineErrors } from "../src/shared/cliConsole.js"
import { exitAfterReader, guardOutput, readerGone, untilReaderGone } from "../src/shared/safeOutput.js"
import { rememberStopSignal } from "../src/shared/signalExitStatus.js"

const hasMessage = (error: unknown): error is { readonly _tag: string; readonly message: string } =>
  typeof error === "object" && error !== null && "_tag" in error && "message" in error && typeof error.message === "string"

export const runExample = <E>(
  name: string,
  help: string,
  cli: (args: ReadonlyArray<string>) => Effect.Effect<void, E, NodeContext.NodeContext | WorkerLauncher>
): void => {
  if (answeredStandardFlags(process.argv.slice(2), name, help)) return
  // A reader that goes away (`| head`) must not crash the runner before it stops what it started; it stops the run, as
  // the pipe's signal would stop a plain program, but in order.
  const reader = readerGone(process.stdout)
  guardOutput(process.stderr)
  const stoppedBy = rememberStopSignal()
  untilReaderGone(withOneLineErrors(runWithLogLevel(cli, process.argv), help), Layer.mergeAll(NodeContext.layer, WorkerLauncher.layer(), plainLogfmt), reader).pipe(
    // A failure is one line (a bad flag's line is @effect/cli's own): no stack trace, no cause tree.
    Effect.tapErrorCause((cause) =>
      Cause.isInterruptedOnly(cause) || Cause.failureOption(cause).pipe(Option.exists(ValidationError.isValidationError))
        ? Effect.void
        : Console.error(describeCause(Cause.map(cause, (error) => (hasMessage(error) ? error : { _tag: "Failed", message: String(error) }))))
    ),
    NodeRuntime.runMain({
      disablePrettyLogger: true,
      disableErrorReporting: true,
      // Stopped by a signal: said, once everything the example started has stopped, and 128 + the signal's number.
      // Its reader gone: said, and 141 (128 + SIGPIPE), the status of a program a closed pipe stops.
      teardown: (exit, onExit) => {
        const signalled = stoppedBy()
        if (signalled !== null) process.stderr.write(`${name}: interrupted; everything it started has stopped\n`)
        onExit(signalled ?? exitAfterReader(reader, name, Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? 1 : 0))
      }
    })
  )
}
