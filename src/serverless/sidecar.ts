/**
 * `node dist/sidecar.js <command>`: how the local serverless runs a `--sidecar` command, and the examples' runners
 * their redis-server. It runs `sh -c <command>` in its own process group (which the launcher made it lead) and exits
 * as the command did. What it adds is the orphan watch a user's command line cannot have: a parent killed outright
 * (`kill -9`) cannot stop its sidecars, so once this process sees its parent gone (`orphanWatch.ts`), it stops its
 * whole group as the launcher would have: SIGTERM, then SIGKILL after the launcher's grace. The worker beside it stops
 * itself the same way. And once the command ends by itself, what it left running in the group (`redis-server &`, a
 * daemon) is stopped the same way, so that nothing outlives the worker it served.
 *
 * Stop signals are the command's business: the launcher signals the whole group, so they reach the command
 * directly; this process only waits for it. It never writes anything: its output is the command's, and once the
 * serverless is gone, nobody reads it.
 */
import { spawn } from "node:child_process"
import { constants } from "node:os"
import { Deferred, Duration, Effect, Exit, Runtime, Schedule } from "effect"
import { PARENT_PID_VARIABLE, whenOrphaned } from "../shared/orphanWatch.js"
import { groupMembers } from "./groupMembers.js"
import { WorkerLauncher } from "./WorkerLauncher.js"

/** How the command ended: an exit code, or the signal that ended it. */
type Ended = { readonly code: number } | { readonly signal: NodeJS.Signals }

const stopSignals: ReadonlyArray<NodeJS.Signals> = ["SIGTERM", "SIGINT", "SIGHUP"]

/** Signal the whole group: the command, what it started, and this process (which ignores stop signals). */
const signalGroup = (signal: NodeJS.Signals) =>
  Effect.sync(() => {
    try {
      process.kill(-process.pid, signal)
    } catch {
      // The group is gone already.
    }
  })

/** The processes of this group other than this one: what the command (or what it started) is still running. */
const othersInGroup = (): ReadonlyArray<number> => groupMembers(process.pid).filter((pid) => pid !== process.pid)

/** How often the group is looked at while its leftovers stop. */
const LEFTOVER_POLL = Duration.millis(50)

/**
 * What the command left running once it ended: SIGTERM to the group (this process ignores it), then, after the
 * launcher's grace, SIGKILL to each one still there (not to the group: this process must live to pass the command's
 * status on).
 */
const stopLeftovers = Effect.gen(function* () {
  if (othersInGroup().length === 0) return
  yield* signalGroup("SIGTERM")
  const stopped = yield* Effect.sync(() => othersInGroup().length === 0).pipe(
    Effect.repeat({ schedule: Schedule.spaced(LEFTOVER_POLL), until: (gone) => gone }),
    Effect.timeoutOption(WorkerLauncher.defaultGrace)
  )
  if (stopped._tag === "Some") return
  for (const pid of othersInGroup()) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // Gone meanwhile.
    }
  }
})

const run = (command: string) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const ended = yield* Deferred.make<Ended>()
    const end = (outcome: Ended) => Runtime.runSync(runtime)(Deferred.succeed(ended, outcome))
    // Handled, so that they do not end this process before the command: its exit status is what is passed on.
    for (const signal of stopSignals) process.on(signal, () => undefined)
    // The command's parent is this process, not the serverless: a program in it that watches its parent watches us.
    const child = spawn("sh", ["-c", command], { stdio: "inherit", env: { ...process.env, [PARENT_PID_VARIABLE]: String(process.pid) } })
    child.once("exit", (code, signal) => end(signal === null ? { code: code ?? 1 } : { signal }))
    child.once("error", () => end({ code: 127 }))
    yield* whenOrphaned(() =>
      // Uninterruptible: once begun, the stop ends with SIGKILL to the group even if the command ends first (the
      // scope's close waits for it), so that nothing it left behind survives; this process goes with it. The wait
      // in between is interruptible, or its timeout could not end it.
      Effect.uninterruptible(
        signalGroup("SIGTERM").pipe(
          Effect.zipRight(Effect.timeoutOption(Effect.interruptible(Deferred.await(ended)), WorkerLauncher.defaultGrace)),
          Effect.zipRight(signalGroup("SIGKILL"))
        )
      )
    )
    const outcome = yield* Deferred.await(ended)
    yield* stopLeftovers
    return outcome
  }).pipe(Effect.scoped)

const command = process.argv[2]
// A command never starts with "-" (sh would read it as its own option): `--help` or `--version` gets the usage.
if (command === undefined || process.argv.length > 3 || command.startsWith("-")) {
  process.stderr.write("usage: node dist/sidecar.js '<command>' (started by the local serverless for --sidecar, and by the examples for redis-server)\n")
  process.exit(2)
}
Effect.runFork(run(command)).addObserver((exit) => {
  if (Exit.isFailure(exit)) process.exit(1)
  const outcome = exit.value
  if ("code" in outcome) process.exit(outcome.code)
  // Ended by a signal: end by the same one, so that the launcher sees what the command saw.
  for (const signal of stopSignals) process.removeAllListeners(signal)
  process.kill(process.pid, outcome.signal)
  process.exit(128 + (constants.signals[outcome.signal] ?? 0))
})
