import { verify } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, Option, TestClock } from "effect"
import { signedMessage } from "../../src/protocol/signedMessage.js"
import { statusBody } from "../../src/protocol/workerStatus.js"
import { ControlPlane, ServerlessConfig } from "../../src/serverless/ControlPlane.js"
import { recommended } from "../../src/serverless/scaling.js"
import { type ProcessSpec, WorkerLauncher } from "../../src/serverless/WorkerLauncher.js"

/** A launcher that starts nothing: it records each spec and lets the test end a "process". */
const fakeLauncher = Effect.gen(function* () {
  const launched: Array<{ spec: ProcessSpec; exit: Deferred.Deferred<string>; stopped: boolean }> = []
  let port = 20000
  const layer = Layer.succeed(
    WorkerLauncher,
    WorkerLauncher.of({
      freePort: Effect.sync(() => port++),
      launch: (spec) =>
        Effect.gen(function* () {
          const exit = yield* Deferred.make<string>()
          const entry = { spec, exit, stopped: false }
          launched.push(entry)
          return {
            pid: 1000 + launched.length,
            exited: Deferred.await(exit),
            stop: Effect.zipRight(
              Effect.sync(() => (entry.stopped = true)),
              Deferred.succeed(exit, "SIGTERM")
            ),
            tail: Effect.succeed([])
          }
        })
    })
  )
  return { launched, layer }
})

const settings = ServerlessConfig.of({
  endpointName: "null-local",
  userApiKey: "k",
  params: { ...recommended, inactivity_timeout: 10 },
  workerScript: "/dev/null",
  healthcheckInterval: 1,
  sidecar: Option.none(),
  sidecarHealthPath: Option.none(),
  verbose: false
})

const report = (id: number, mtoken: string, curLoad: number, workingRequestIdxs: ReadonlyArray<number>) =>
  statusBody(
    { id, mtoken, url: "" },
    {
      received: 0,
      served: 0,
      cancelled: 0,
      rejected: 0,
      curLoad,
      workingRequestIdxs,
      numRequestsRecieved: 0,
      ready: true,
      loadtime: 1,
      errorMsg: "",
      additionalDiskUsage: 0
    }
  )

describe("ControlPlane (TestClock, fake processes)", () => {
  it.scoped("a waiting reservation starts a worker; once ready it is routed there with a valid signature", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const context = yield* Layer.build(ControlPlane.Default.pipe(Layer.provide(layer), Layer.provide(Layer.succeed(ServerlessConfig, settings))))
      const plane = Context.get(context, ControlPlane)
      yield* plane.setBaseUrl("http://127.0.0.1:8080")
      const key = plane.endpointApiKey
      const first = yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 0 })
      assert.strictEqual(Option.getOrThrow(first)._tag, "Waiting")
      yield* plane.tick
      assert.lengthOf(launched, 1)
      const env = launched[0]!.spec.env
      assert.strictEqual(env["REPORT_ADDR"], "http://127.0.0.1:8080")
      assert.strictEqual(env["CONTAINER_ID"], "1")
      // Not ready yet: still waiting, and no second worker for the same request.
      assert.strictEqual(Option.getOrThrow(yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 1 }))._tag, "Waiting")
      yield* plane.tick
      assert.lengthOf(launched, 1)

      assert.isTrue(yield* plane.workerStatus(report(1, env["MASTER_TOKEN"]!, 0, [])))
      assert.isFalse(yield* plane.workerStatus(report(1, "wrong token", 0, [])))
      const ready = Option.getOrThrow(yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 1 }))
      assert.strictEqual(ready._tag, "Ready")
      if (ready._tag !== "Ready") return
      const url = String(ready.authData["url"])
      assert.strictEqual(url, `http://127.0.0.1:${env["WORKER_PORT"]}`)
      assert.strictEqual(ready.authData["request_idx"], 1)
      const signature = Buffer.from(String(ready.authData["signature"]), "base64")
      assert.isTrue(verify("sha256", Buffer.from(signedMessage(url)), plane.publicKeyPem, signature))
      // The wrong endpoint key gets nothing.
      assert.isTrue(Option.isNone(yield* plane.route({ endpoint: "null-local", apiKey: "nope", cost: 100, requestIdx: 0 })))
    })
  )

  it.scoped("an idle worker stops exactly inactivity_timeout after its last load; a dead one is noticed and removed", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const context = yield* Layer.build(ControlPlane.Default.pipe(Layer.provide(layer), Layer.provide(Layer.succeed(ServerlessConfig, settings))))
      const plane = Context.get(context, ControlPlane)
      yield* plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx: 0 })
      yield* plane.tick
      const token = launched[0]!.spec.env["MASTER_TOKEN"]!
      yield* plane.workerStatus(report(1, token, 0, []))
      // The client polls again and is routed: it is no longer waiting.
      yield* plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx: 1 })
      yield* plane.workerStatus(report(1, token, 100, [1]))
      yield* TestClock.adjust("5 seconds")
      yield* plane.workerStatus(report(1, token, 0, []))
      yield* TestClock.adjust("9999 millis")
      yield* plane.tick
      assert.isFalse(launched[0]!.stopped)
      yield* TestClock.adjust("1 millis")
      yield* plane.tick
      yield* TestClock.adjust("0 millis")
      assert.isTrue(launched[0]!.stopped)
      assert.lengthOf((yield* plane.status).workers, 0)

      // A second worker whose process dies on its own.
      yield* plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx: 0 })
      yield* plane.tick
      assert.lengthOf(launched, 2)
      yield* Deferred.succeed(launched[1]!.exit, "1")
      yield* TestClock.adjust("0 millis")
      const dead = (yield* plane.status).workers[0]
      assert.deepStrictEqual([dead?.state, dead?.exit], ["errored", "1"])
      yield* plane.tick
      yield* TestClock.adjust("0 millis")
      // Removed, and the reservation still waiting gets a replacement.
      const workers = (yield* plane.status).workers
      assert.isFalse(workers.some((w) => w.id === 2))
      assert.lengthOf(launched, 3)
    })
  )
})
