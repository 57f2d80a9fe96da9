/**
 * A program started by the local serverless or the demo stops when its parent is gone. The launcher's children
 * lead their own process groups (`WorkerLauncher`), so a parent killed outright (SIGKILL, out of memory) would
 * leave them running for ever: a worker holding its ports and its sessions, reporting to nobody. The launcher
 * names itself in `NULL_PARENT_PID`; a program that finds it checks once a second that it is still that process's
 * child (an orphan is adopted by another) and, once it is not, sends itself SIGTERM: its ordinary, orderly stop.
 */
import { Config, Effect, Option, Schedule, type Scope } from "effect"

export const PARENT_PID_VARIABLE = "NULL_PARENT_PID"

/** Forks the watch into the current scope; nothing when the variable is unset (a program started by hand). */
export const stopWhenOrphaned: Effect.Effect<void, never, Scope.Scope> = Effect.gen(function* () {
  const parent = yield* Config.option(Config.integer(PARENT_PID_VARIABLE)).pipe(Effect.orElseSucceed(() => Option.none<number>()))
  if (Option.isNone(parent)) return
  // Started through a shell (or re-parented already): the variable names someone else, and no check could tell.
  if (process.ppid !== parent.value) return yield* Effect.logDebug("NULL_PARENT_PID is not this process's parent: not watching it")
  yield* Effect.sync(() => process.ppid !== parent.value).pipe(
    Effect.repeat({ schedule: Schedule.spaced("1 second"), until: (orphaned) => orphaned }),
    Effect.zipRight(Effect.logWarning("the process that started this one is gone: stopping", { parent_pid: parent.value })),
    Effect.zipRight(Effect.sync(() => process.kill(process.pid, "SIGTERM"))),
    Effect.forkScoped
  )
})
