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

  it.live("asked to stop twice at once (a finalizer and an interrupted stop), the child gets one SIGTERM", () =>
    Effect.gen(function* () {
      const launcher = yield* WorkerLauncher
      const lines: Array<string> = []
      const child = yield* launcher.launch({ name: "child", command: process.execPath, args: ["-e", script], env: {} }, (line) => void lines.push(line))
      yield* Effect.repeat(Effect.sync(() => lines.includes("up")), { schedule: Schedule.spaced("10 millis"), until: (up) => up })
      yield* Effect.all([child.stop, child.stop], { concurrency: "unbounded" })
      assert.strictEqual(yield* child.exited, "0")
      assert.deepStrictEqual(lines, ["up", "term 1"])
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
