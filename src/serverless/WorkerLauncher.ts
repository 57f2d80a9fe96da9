/**
 * Starting and stopping real worker processes (and, optionally, a sidecar process beside each, such
 * as the user's queue consumer). A process is a resource: stopping sends SIGTERM, waits a grace
 * period, then SIGKILL; closing the launcher's scope stops everything it started the same way, so each
 * child runs its own shutdown (a client ends its sessions, a serverless stops its workers).
 *
 * Each child leads its own process group. A terminal's Ctrl-C then reaches only the parent, which stops its
 * children once and in its own order; a child that had the terminal's SIGINT too would take the parent's SIGTERM
 * as a second signal, which makes the client quit without ending its sessions.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { Context, Data, Deferred, Duration, Effect, Fiber, Layer, Runtime } from "effect"
import { PARENT_PID_VARIABLE } from "../shared/orphanWatch.js"
import { lineSplitter } from "./lineSplitter.js"

export interface ProcessSpec {
  /** Shown in logs (`w3`, `w3/sidecar`). */
  readonly name: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
}

export interface RunningProcess {
  readonly pid: number
  /** Completes with the exit code (or the signal's name) when the process ends. */
  readonly exited: Effect.Effect<string>
  /** Whether the process has ended already (at once, without waiting). */
  readonly ended: Effect.Effect<boolean>
  /** SIGTERM, then SIGKILL after the grace period; completes when the process has ended. */
  readonly stop: Effect.Effect<void>
  /** The last lines the process printed. */
  readonly tail: Effect.Effect<ReadonlyArray<string>>
}

export class LaunchError extends Data.TaggedError("LaunchError")<{ readonly message: string }> {}

const TAIL_LINES = 30
/** How many recently handed-out ports `freePort` refuses to hand out again. */
const RECENT_PORTS = 256

/** A child's environment: its own, and who its parent is, so that it stops if this process dies (`orphanWatch.ts`). */
const childEnv = (spec: ProcessSpec): Record<string, string> => ({ ...spec.env, [PARENT_PID_VARIABLE]: String(process.pid) })

export class WorkerLauncher extends Context.Tag("serverless/WorkerLauncher")<
  WorkerLauncher,
  {
    readonly launch: (spec: ProcessSpec, onLine: (line: string) => void) => Effect.Effect<RunningProcess, LaunchError>
    /** A loopback TCP port that was free a moment ago. */
    readonly freePort: Effect.Effect<number, LaunchError>
  }
>() {
  /** How long a stopped child gets before SIGKILL, unless the layer is given another. */
  static readonly defaultGrace = Duration.seconds(5)

  static readonly layer = (options: { readonly grace: Duration.DurationInput } = { grace: WorkerLauncher.defaultGrace }) =>
    Layer.scoped(
      WorkerLauncher,
      Effect.gen(function* () {
        const runtime = yield* Effect.runtime<never>()
        // Each running child and how to stop it.
        const running = new Map<ChildProcess, Effect.Effect<void>>()
        const signal = (child: ChildProcess, name: NodeJS.Signals) => {
          try {
            // A group leader: signal the whole group (a shell and what it started, a worker and its helpers).
            if (child.pid !== undefined) process.kill(-child.pid, name)
            else child.kill(name)
          } catch {
            child.kill(name)
          }
        }
        // Whatever is still running when the launcher's owner stops goes with it, stopped as `stop` does: SIGKILL
        // at once would leave a child's own children (a serverless's workers) running, and sessions open.
        yield* Effect.addFinalizer(() => Effect.forEach([...running.values()], (stop) => stop, { concurrency: "unbounded", discard: true }))

        // Uninterruptible from the spawn until the child is registered: an interruption in between would leave a
        // process no finalizer knows about.
        const launch = (spec: ProcessSpec, onLine: (line: string) => void) =>
          Effect.uninterruptible(Effect.gen(function* () {
            const done = yield* Deferred.make<string>()
            const child = yield* Effect.try({
              try: () =>
                // `detached`: its own process group (see above); a child may start several processes (a sidecar's
                // shell and what it runs), and stopping it must reach all of them.
                spawn(spec.command, [...spec.args], { env: childEnv(spec), stdio: ["ignore", "pipe", "pipe"], detached: true }),
              catch: (error) => new LaunchError({ message: `${spec.name}: ${String(error)}` })
            })
            const tail: Array<string> = []
            const onChildLine = (line: string) => {
              tail.push(line)
              if (tail.length > TAIL_LINES) tail.shift()
              onLine(line)
            }
            for (const stream of [child.stdout, child.stderr]) {
              const lines = lineSplitter(onChildLine)
              stream?.on("data", lines.push)
              stream?.on("end", lines.end)
            }
            const finish = (outcome: string) => {
              running.delete(child)
              Runtime.runSync(runtime)(Deferred.succeed(done, outcome))
            }
            child.once("exit", (code, signal) => finish(code === null ? String(signal) : String(code)))
            child.once("error", (error) => finish(`error: ${error.message}`))
            if (child.pid === undefined) {
              const outcome = yield* Deferred.await(done)
              return yield* new LaunchError({ message: `${spec.name} did not start (${outcome})` })
            }
            const pid = child.pid
            // One SIGTERM per child, however many ask it to stop: to a program that is already stopping, a second
            // one means "hurry" (a worker cuts its drain short; a runMain program that dropped its handlers dies).
            let terminating = false
            const endedOrKilled = Effect.gen(function* () {
              const ended = yield* Effect.interruptible(Deferred.await(done)).pipe(Effect.timeoutOption(options.grace))
              if (ended._tag === "None") {
                signal(child, "SIGKILL")
                yield* Deferred.await(done)
              }
            })
            const stop = Effect.gen(function* () {
              if (yield* Deferred.isDone(done)) return
              if (!terminating) {
                terminating = true
                signal(child, "SIGTERM")
              }
              // The wait is interruptible, or the grace never ends where `stop` runs in a finalizer (at shutdown): a
              // timeout cannot cut short an uninterruptible wait, and a child that ignores SIGTERM (or is stopped)
              // would hang its parent for ever instead of getting SIGKILL. It runs in a fiber of its own, joined: in
              // the caller's, a second interruption (a race or a timeout around the program passing one on) would end
              // it at once, and the next finalizer would stop the next child while this one still ran (newcomer 28 #1).
              yield* Effect.flatMap(Effect.forkDaemon(endedOrKilled), Fiber.join)
            })
            // An exit already seen has removed it (`finish`); it must not be added back.
            if (!(yield* Deferred.isDone(done))) running.set(child, stop)
            return { pid, exited: Deferred.await(done), ended: Deferred.isDone(done), stop, tail: Effect.sync(() => tail.slice()) }
          }))

        const probePort = Effect.async<number, LaunchError>((resume) => {
          const server = createServer()
          server.once("error", (error) => resume(Effect.fail(new LaunchError({ message: `no free port: ${error.message}` }))))
          server.listen(0, "127.0.0.1", () => {
            const address = server.address()
            const port = typeof address === "object" && address !== null ? address.port : 0
            server.close(() => resume(Effect.succeed(port)))
          })
        })

        // The OS may offer a port again as soon as its probe closed: three probes in a row once gave one worker
        // the same port twice. A port handed out recently is never handed out again.
        const recentPorts: Array<number> = []
        const freePort: Effect.Effect<number, LaunchError> = Effect.flatMap(probePort, (port) => {
          if (recentPorts.includes(port)) return freePort
          recentPorts.push(port)
          if (recentPorts.length > RECENT_PORTS) recentPorts.shift()
          return Effect.succeed(port)
        })

        return WorkerLauncher.of({ launch, freePort })
      })
    )
}
