import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
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
