import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Option, Schedule, Scope } from "effect"
import { WorkerLauncher } from "../../src/serverless/WorkerLauncher.js"

describe("WorkerLauncher.freePort", () => {
  it.scoped("never hands out the same port twice in a row of launches (each worker takes three)", () =>
    Effect.gen(function* () {
      const launcher = yield* WorkerLauncher
      const ports = yield* Effect.replicateEffect(launcher.freePort, 150)
      assert.strictEqual(new Set(ports).size, ports.length)
      for (const port of ports) assert.isTrue(port > 0 && port < 65536)
    }).pipe(Effect.provide(WorkerLauncher.layer()))
  )
})

describe("WorkerLauncher: stopping a child", () => {
  // A child that says each SIGTERM it gets and exits 300 ms after the first: a second SIGTERM would show. It says
  // "up" only once its handler is in place (a write to a pipe is synchronous: the parent may act on it at once).
  const script = `let n = 0; process.on("SIGTERM", () => { n++; process.stdout.write("term " + n + "\\n"); if (n === 1) setTimeout(() => process.exit(0), 300) }); process.stdout.write("up\\n"); setInterval(() => {}, 1000)`

  /** Until `lines` has `line`, looked at every 10 ms. */
  const seen = (lines: ReadonlyArray<string>, line: string) =>
    Effect.repeat(Effect.sync(() => lines.includes(line)), { schedule: Schedule.spaced("10 millis"), until: (found) => found })

  it.live("asked to stop again while it is stopping (a finalizer and an interrupted stop), the child gets one SIGTERM (review 43 L6h)", () =>
    Effect.gen(function* () {
      const launcher = yield* WorkerLauncher
      const lines: Array<string> = []
      const child = yield* launcher.launch({ name: "child", command: process.execPath, args: ["-e", script], env: {} }, (line) => void lines.push(line))
      yield* seen(lines, "up")
      const first = yield* Effect.fork(child.stop)
      // The second stop once the child has taken the first SIGTERM: two at the same instant could merge into one.
      yield* seen(lines, "term 1")
      yield* child.stop
      yield* Fiber.join(first)
      assert.strictEqual(yield* child.exited, "0")
      assert.deepStrictEqual(lines, ["up", "term 1"])
    }).pipe(Effect.provide(WorkerLauncher.layer()), Effect.scoped)
  )

  it.live("stopped by the finalizers of an interrupted fiber, one child after another: each stop waits for its child's exit before the next begins, interrupted again or not (newcomer 28 #1)", () =>
    Effect.gen(function* () {
      const launcher = yield* WorkerLauncher
      const events: Array<string> = []
      const launched = (name: string) =>
        launcher.launch({ name, command: process.execPath, args: ["-e", script], env: {} }, (line) => void events.push(`${name} ${line}`))
      const first = yield* launched("first")
      const second = yield* launched("second")
      yield* Effect.forkDaemon(Effect.flatMap(first.exited, () => Effect.sync(() => events.push("first exited"))))
      yield* seen(events, "first up")
      yield* seen(events, "second up")
      // As the demo stops its client, then its serverless: the later finalizer first.
      const holder = yield* Effect.fork(
        Effect.scoped(Effect.zipRight(Effect.zipRight(Effect.addFinalizer(() => second.stop), Effect.addFinalizer(() => first.stop)), Effect.never))
      )
      yield* Effect.yieldNow()
      yield* Fiber.interruptFork(holder)
      // A second interruption while the first stop waits (a race or a timeout around the program passes one on):
      // it must not cut that wait short.
      yield* seen(events, "first term 1")
      yield* Fiber.interruptFork(holder)
      yield* Fiber.await(holder)
      assert.deepStrictEqual(
        events.filter((event) => !event.endsWith(" up")),
        ["first term 1", "first exited", "second term 1"]
      )
    }).pipe(Effect.provide(WorkerLauncher.layer()), Effect.scoped)
  )

  it.live("closing the launcher's scope (its finalizer is uninterruptible) kills a child that ignores SIGTERM, or is stopped, after the grace", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const launcher = yield* Layer.build(WorkerLauncher.layer({ grace: "300 millis" })).pipe(
        Effect.map((context) => Context.get(context, WorkerLauncher)),
        Scope.extend(scope)
      )
      const lines: Array<string> = []
      const ignoresTerm = `process.on("SIGTERM", () => {}); process.stdout.write("up\\n"); setInterval(() => {}, 1000)`
      const stubborn = yield* launcher.launch({ name: "stubborn", command: process.execPath, args: ["-e", ignoresTerm], env: {} }, (line) => void lines.push(line))
      const hung = yield* launcher.launch({ name: "hung", command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"], env: {} }, () => {})
      // A failing run must not leave the children behind.
      for (const child of [stubborn, hung]) {
        const exited = yield* Effect.forkDaemon(child.exited)
        yield* Effect.addFinalizer(() =>
          Effect.map(Fiber.poll(exited), (done) => {
            if (Option.isNone(done)) process.kill(child.pid, "SIGKILL")
          })
        )
      }
      yield* Effect.repeat(Effect.sync(() => lines.includes("up")), { schedule: Schedule.spaced("10 millis"), until: (up) => up })
      process.kill(hung.pid, "SIGSTOP")
      // Disconnected, so that a close that never ends fails the test instead of hanging it.
      const closed = yield* Scope.close(scope, Exit.void).pipe(Effect.disconnect, Effect.timeoutOption("5 seconds"))
      assert.isTrue(Option.isSome(closed), "the scope closed")
      assert.strictEqual(yield* stubborn.exited, "SIGKILL")
      assert.strictEqual(yield* hung.exited, "SIGKILL")
    }).pipe(Effect.scoped)
  )
})
