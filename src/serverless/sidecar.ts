/**
 * `node dist/sidecar.js <command>`: how the local serverless runs a `--sidecar` command, and the examples' runners
 * their redis-server. It runs `sh -c <command>` in its own process group (which the launcher made it lead) and exits
 * as the command did. What it adds is the orphan watch a user's command line cannot have: a parent killed outright
 * (`kill -9`) cannot stop its sidecars, so once this process sees its parent gone (`orphanWatch.ts`), it stops its
 * whole group as the launcher would have: SIGTERM, then SIGKILL after the launcher's grace. The worker beside it stops
 * itself the same way. And once the command ends (by itself or by the launcher's signal), what it left running in the
 * group (`redis-server &`) is stopped too, so that nothing outlives the worker it served (on Linux, where `/proc` says
 * what is in the group; what left it, `timeout` with its own group, is found in the session the launcher made this
 * process lead, and through its parents).
 *
 * Stop signals are the command's business: the launcher signals the whole group, so they reach the command
 * directly; this process only waits for it. It never writes anything: its output is the command's, and once the
 * serverless is gone, nobody reads it.
 */
import { spawn } from "node:child_process"
import { type Clock, Deferred, Duration, Effect, Exit, Runtime, Schedule } from "effect"
import { unsafeMonotonicMillis } from "../shared/monotonic.js"
import { endBySignal } from "../shared/endBySignal.js"
import { PARENT_PID_VARIABLE, whenOrphaned } from "../shared/orphanWatch.js"
import { descendantsOutsideGroupNow, type GroupMember, groupMembers, leadsSession, outsidersOf, startedAt, startedIfRunning } from "./groupMembers.js"
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

/** How often the group is looked at while its leftovers stop. */
const LEFTOVER_POLL = Duration.millis(50)

/**
 * After a stop signal, how long leftovers get before SIGKILL: less than the launcher's grace, which began with the same
 * signal, so that this SIGKILL comes first and this process still passes the command's status on.
 */
const GRACE_AFTER_SIGNAL = Duration.subtract(WorkerLauncher.defaultGrace, Duration.seconds(1))

const signalEach = (pids: ReadonlyArray<number>, signal: NodeJS.Signals) => {
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // Gone meanwhile.
    }
  }
}

/**
 * What the command left running once it ended (`redis-server & node consumer.js`): the members of this group that
 * started with the command or after it (not this process, nor one that was in the group before: a pipeline's reader
 * when the runner is run by hand). Each is sent SIGTERM, unless a stop signal to the group reached it already (a second
 * would mean "hurry" to it), then SIGKILL once its grace has passed: counted from that signal, or from now. Signalled one
 * by one, not as a group, and looked up again just before: this process must live to pass the command's status on.
 */
const stopLeftovers = (since: number, signalledAt: number | null, clock: Clock.Clock, outsiders: Outsiders) =>
  Effect.gen(function* () {
    const members = () => groupMembers(process.pid).flatMap((member) => (member.pid !== process.pid && member.started >= since ? [member.pid] : []))
    const leftovers = () => [...members(), ...outsiders.live()]
    const firstMembers = members()
    if (firstMembers.length === 0 && outsiders.live().length === 0) return
    // The outsiders have had theirs (`passStopOn`).
    if (signalledAt === null) signalEach(firstMembers, "SIGTERM")
    const deadline = signalledAt === null ? unsafeMonotonicMillis(clock) + Duration.toMillis(WorkerLauncher.defaultGrace) : signalledAt + Duration.toMillis(GRACE_AFTER_SIGNAL)
    const stopped = yield* Effect.sync(() => leftovers().length === 0).pipe(
      Effect.repeat({ schedule: Schedule.spaced(LEFTOVER_POLL), until: (gone) => gone }),
      Effect.timeoutOption(Duration.millis(Math.max(0, deadline - unsafeMonotonicMillis(clock))))
    )
    if (stopped._tag === "None") signalEach(leftovers(), "SIGKILL")
  })

/** How often the command's descendants outside the group are looked for while it runs. */
const OUTSIDER_POLL = Duration.seconds(1)

/**
 * The command's descendants that left the group (`timeout`, which calls `setpgid`): a signal to the group misses them,
 * so they are noted while the command runs (each second, and at a stop signal) and signalled one by one. Found through
 * their parents, and, when this process leads its session (under the launcher), as the session's members outside the
 * group that started with the command or after it: the group's stop signal may have ended their parent (`sh -c`) before
 * this process's handler looks. A pid is only taken for one of them while its start time is the one noted.
 */
interface Outsiders {
  /** Each second: the descendants outside the group (through the children lists, not the whole of `/proc`). */
  readonly watch: () => void
  /** At a stop: those and the session's members outside the group, in one read of `/proc`. */
  readonly note: () => void
  readonly live: () => ReadonlyArray<number>
}

const makeOutsiders = (since: number | null): Outsiders => {
  const noted = new Map<number, number>()
  // The session's members are the command's only in a session this process leads (the launcher's `setsid`).
  const sessionSince = leadsSession(process.pid) ? since : null
  const keep = (found: ReadonlyArray<GroupMember>) => {
    for (const { pid, started } of found) noted.set(pid, started)
  }
  return {
    watch: () => keep(descendantsOutsideGroupNow(process.pid, process.pid)),
    note: () => keep(outsidersOf(process.pid, sessionSince)),
    live: () => {
      const live: Array<number> = []
      for (const [pid, started] of noted) {
        if (startedIfRunning(pid) === started) live.push(pid)
        else noted.delete(pid)
      }
      return live
    }
  }
}

const run = (command: string) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const ended = yield* Deferred.make<Ended>()
    const end = (outcome: Ended) => Runtime.runSync(runtime)(Deferred.succeed(ended, outcome))
    const clock = yield* Effect.clock
    // Handled, so that they do not end this process before the command: its exit status is what is passed on. The first
    // one's time is kept: signals come to the whole group, so what the command left has had it too.
    let signalledAt: number | null = null
    // Made once the command has started: a signal before that has no outsiders to pass on to (yet).
    let outsiders: Outsiders | null = null
    const signalOutsiders = (signal: NodeJS.Signals) => {
      if (outsiders === null) return
      outsiders.note()
      signalEach(outsiders.live(), signal)
    }
    // One SIGTERM to what left the group, from whichever comes first once the command has started: the stop signal's
    // handler, the orphan watch, or the command's end (which may be seen before the handler runs, and then this process
    // may be gone before it does).
    let stopPassedOn = false
    const passStopOn = () => {
      if (stopPassedOn || outsiders === null) return
      stopPassedOn = true
      signalOutsiders("SIGTERM")
    }
    for (const signal of stopSignals) {
      process.on(signal, () => {
        if (signalledAt !== null) return
        signalledAt = unsafeMonotonicMillis(clock)
        // The group's signal reached the rest; these left it.
        passStopOn()
      })
    }
    // The command's parent is this process, not the serverless: a program in it that watches its parent watches us.
    const child = spawn("sh", ["-c", command], { stdio: "inherit", env: { ...process.env, [PARENT_PID_VARIABLE]: String(process.pid) } })
    // Read at once (the shell exists until it is reaped): what started before it is not the command's.
    const since = child.pid === undefined ? null : startedAt(child.pid)
    const commandOutsiders = makeOutsiders(since)
    outsiders = commandOutsiders
    child.once("exit", (code, signal) => end(signal === null ? { code: code ?? 1 } : { signal }))
    child.once("error", () => end({ code: 127 }))
    yield* Effect.sync(commandOutsiders.watch).pipe(Effect.repeat(Schedule.spaced(OUTSIDER_POLL)), Effect.forkScoped)
    yield* whenOrphaned(() =>
      // Uninterruptible: once begun, the stop ends with SIGKILL to the group even if the command ends first (the
      // scope's close waits for it), so that nothing it left behind survives; this process goes with it. The wait
      // in between is interruptible, or its timeout could not end it.
      Effect.uninterruptible(
        signalGroup("SIGTERM").pipe(
          Effect.zipRight(Effect.sync(passStopOn)),
          Effect.zipRight(Effect.timeoutOption(Effect.interruptible(Deferred.await(ended)), WorkerLauncher.defaultGrace)),
          Effect.zipRight(Effect.sync(() => signalOutsiders("SIGKILL"))),
          Effect.zipRight(signalGroup("SIGKILL"))
        )
      )
    )
    const outcome = yield* Deferred.await(ended)
    // A command a stop signal ended had it from the launcher, which signals the group: what it left had it too. Said
    // here as well as by the handler, which may run only after the command's exit has been seen.
    const endedBySignal = "signal" in outcome && stopSignals.includes(outcome.signal)
    const groupSignalled = signalledAt ?? (endedBySignal ? unsafeMonotonicMillis(clock) : null)
    passStopOn()
    if (since !== null) yield* stopLeftovers(since, groupSignalled, clock, commandOutsiders)
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
  endBySignal(outcome.signal)
})
