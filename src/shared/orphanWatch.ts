/**
 * A program started by the local serverless or the demo stops when its parent is gone. The launcher's children
 * lead their own process groups (`WorkerLauncher`), so a parent killed outright (SIGKILL, out of memory) would
 * leave them running for ever: a worker holding its ports and its sessions, reporting to nobody. The launcher
 * names itself in `NULL_PARENT_PID`; a program that finds it checks once a second that it is still that process's
 * child (an orphan is adopted by another) and, once it is not, sends itself SIGTERM: its ordinary, orderly stop.
 */
import { readFileSync } from "node:fs"
import { Config, Effect, Option, Schedule, type Scope } from "effect"

export const PARENT_PID_VARIABLE = "NULL_PARENT_PID"

/** The largest process id Linux can give (its `pid_max` is at most 2^22); above it a value names no process anywhere. */
const MAX_PID = 4_194_303

/**
 * Whether process `pid` has exited, though it still exists: a zombie, which its own parent has not reaped yet (Linux's
 * `/proc/<pid>/stat` says `Z`, or `X` while it goes; where there is no `/proc`, nothing is known, and it counts as
 * running). A launcher killed outright is one until its parent waits for it, and that parent may be slow (a busy test
 * runner, a shell in a foreground job) or never do it (a container's first process that reaps nothing).
 */
const exitedUnreaped = (pid: number): boolean => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return false
  }
  // `pid (comm) state …`: the command name may hold spaces and parentheses, so the state is read after its last `)`.
  const state = stat.charAt(stat.lastIndexOf(")") + 2)
  return state === "Z" || state === "X"
}

/** Whether no process `pid` runs: none exists (one we may not signal exists), or it has exited unreaped. */
const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return error instanceof Error && "code" in error && error.code === "ESRCH"
  }
  return exitedUnreaped(pid)
}

/**
 * Forks into the current scope a watch that runs `orphaned` once, when the parent named in `NULL_PARENT_PID` is
 * gone; nothing when the variable is unset (a program started by hand).
 */
export const whenOrphaned = (orphaned: (parent: number) => Effect.Effect<void>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const text = yield* Config.option(Config.string(PARENT_PID_VARIABLE)).pipe(Effect.orElseSucceed(() => Option.none<string>()))
    if (Option.isNone(text)) return
    const parent = /^\s*[1-9]\d{0,6}\s*$/.test(text.value) && Number(text.value) <= MAX_PID ? Option.some(Number(text.value)) : Option.none<number>()
    if (Option.isNone(parent)) {
      return yield* Effect.logWarning(`${PARENT_PID_VARIABLE} is not a process id (a whole number from 1 to ${MAX_PID}): no parent is watched`)
    }
    // Not our parent: either we were started through a shell (the variable names someone else, and no check could
    // tell), or the parent died before this check ran (a start-up slower than its parent's kill -9), and we are an
    // orphan already, to be stopped at once rather than never. A parent that died is gone before it is reaped: as a
    // zombie it still answers `kill(pid, 0)`, and a worker the local serverless had just started, when killed outright,
    // took it for someone else's and ran on for good (the serverless SIGKILL e2e test, under load).
    if (process.ppid !== parent.value && !gone(parent.value)) {
      return yield* Effect.logDebug("NULL_PARENT_PID is not this process's parent: not watching it")
    }
    yield* Effect.sync(() => process.ppid !== parent.value).pipe(
      Effect.repeat({ schedule: Schedule.spaced("1 second"), until: (gone) => gone }),
      Effect.zipRight(orphaned(parent.value)),
      Effect.forkScoped
    )
  })

/** The watch, stopping this process with its ordinary SIGTERM path. */
export const stopWhenOrphaned: Effect.Effect<void, never, Scope.Scope> = whenOrphaned((parent) =>
  Effect.logWarning(`the process that started this one (${PARENT_PID_VARIABLE}) is gone: stopping`, { parent_pid: parent }).pipe(
    Effect.zipRight(Effect.sync(() => process.kill(process.pid, "SIGTERM")))
  )
)
