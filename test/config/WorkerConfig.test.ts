import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option } from "effect"
import { WorkerConfig } from "../../src/config/WorkerConfig.js"

const load = (env: Record<string, string>) =>
  Effect.either(
    Effect.provide(WorkerConfig, WorkerConfig.layerFromEnv.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))))
  )

describe("WorkerConfig", () => {
  it.effect("defaults: HTTP port WORKER_PORT + 1, control 18999, one slot, stub health", () =>
    Effect.gen(function* () {
      const loaded = yield* load({ WORKER_PORT: "3000" })
      assert.isTrue(loaded._tag === "Right")
      if (loaded._tag !== "Right") return
      assert.strictEqual(loaded.right.workerPort, 3000)
      assert.strictEqual(loaded.right.workerHttpPort, 3001)
      assert.strictEqual(loaded.right.controlPort, 18999)
      assert.strictEqual(loaded.right.maxSessions, 1)
      assert.isTrue(Option.isNone(loaded.right.backendHealthUrl))
    })
  )

  it.effect("every variable can be set", () =>
    Effect.gen(function* () {
      const loaded = yield* load({
        WORKER_PORT: "3000",
        WORKER_HTTP_PORT: "4000",
        NULL_CONTROL_PORT: "5000",
        NULL_MAX_SESSIONS: "3",
        BACKEND_HEALTH_URL: "http://127.0.0.1:9090/health"
      })
      assert.isTrue(loaded._tag === "Right")
      if (loaded._tag !== "Right") return
      assert.deepStrictEqual(
        [loaded.right.workerHttpPort, loaded.right.controlPort, loaded.right.maxSessions],
        [4000, 5000, 3]
      )
      assert.deepStrictEqual(loaded.right.backendHealthUrl, Option.some("http://127.0.0.1:9090/health"))
    })
  )

  it.effect.each(["0", "-1", "1.5", "two"])("NULL_MAX_SESSIONS=%s is a startup error", (value) =>
    Effect.gen(function* () {
      const loaded = yield* load({ WORKER_PORT: "3000", NULL_MAX_SESSIONS: value })
      assert.isTrue(loaded._tag === "Left")
      if (loaded._tag !== "Left") return
      assert.include(loaded.left.message, "NULL_MAX_SESSIONS")
    })
  )

  it.effect("every problem is listed at once", () =>
    Effect.gen(function* () {
      const loaded = yield* load({ NULL_CONTROL_PORT: "99999", BACKEND_HEALTH_URL: "localhost:9090/health" })
      assert.isTrue(loaded._tag === "Left")
      if (loaded._tag !== "Left") return
      assert.deepStrictEqual(
        loaded.left.problems.map((problem) => problem.split(":")[0]).sort(),
        ["BACKEND_HEALTH_URL", "NULL_CONTROL_PORT", "WORKER_PORT"]
      )
    })
  )
})
