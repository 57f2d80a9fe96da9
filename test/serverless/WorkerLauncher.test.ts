import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
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
})
