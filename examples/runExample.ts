/**
 * How the examples' runners start: `--version` as every program prints it (one line); otherwise the command, with
 * the process launcher, Node's context and logfmt logs. `--help` is @effect/cli's.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer, Logger } from "effect"
import { WorkerLauncher } from "../src/serverless/WorkerLauncher.js"
import { versionRequested } from "../src/shared/cliHelp.js"
import { VERSION } from "../src/shared/version.js"

export const runExample = <E>(name: string, cli: (args: ReadonlyArray<string>) => Effect.Effect<void, E, NodeContext.NodeContext | WorkerLauncher>): void => {
  if (versionRequested(process.argv.slice(2))) {
    process.stdout.write(`${name} ${VERSION}\n`)
    return
  }
  cli(process.argv).pipe(Effect.provide(Layer.mergeAll(NodeContext.layer, WorkerLauncher.layer(), Logger.logFmt)), NodeRuntime.runMain({ disablePrettyLogger: true }))
}
