import { verify } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Deferred, Effect, Exit, Fiber, Layer, Option, Scope, TestClock } from "effect"
import { signedMessage } from "../../src/protocol/signedMessage.js"
import { statusBody } from "../../src/protocol/workerStatus.js"
import { CALLBACK_BODY_SHOWN, keptCallbackBody } from "../../src/serverless/callbackSink.js"
import { ControlPlane, failedStartBackoffMs, ServerlessConfig, SETTLED_MS } from "../../src/serverless/ControlPlane.js"
import { type EndpointParams, recommended, REPORT_GRACE_MS, SILENCE_LIMIT_MS } from "../../src/serverless/scaling.js"
import { statusPage } from "../../src/serverless/statusPage.js"
import { ServerlessMetrics } from "../../src/serverless/ServerlessMetrics.js"
import { type ProcessSpec, WorkerLauncher } from "../../src/serverless/WorkerLauncher.js"
import { WorkerSessions } from "../../src/serverless/WorkerSessions.js"
import type { SessionView } from "../../src/protocol/control.js"

/** A launcher that starts nothing: it records each spec and lets the test end a "process". */
const fakeLauncher = fakeLauncherWith([])

/** As `fakeLauncher`, every process's output ending with `tail`. */
function fakeLauncherWith(tail: ReadonlyArray<string>) {
  return Effect.gen(function* () {
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
              ended: Deferred.isDone(exit),
              stop: Effect.zipRight(
                Effect.sync(() => (entry.stopped = true)),
                Deferred.succeed(exit, "SIGTERM")
              ),
              tail: Effect.succeed(tail)
            }
          })
      })
    )
    return { launched, layer }
  })
}

const settings = ServerlessConfig.of({
  endpointName: "null-local",
  userApiKey: "k",
  params: { ...recommended, inactivity_timeout: 10 },
  workerScript: "/dev/null",
  sidecarScript: "/dev/null",
  healthcheckInterval: 1,
  sidecar: Option.none(),
  sidecarHealthPath: Option.none(),
  verbose: false
})

/** The control plane over `launcher`, with `params` (the recommended ones, inactivity_timeout 10 s, by default). */
const buildPlane = (
  launcher: Layer.Layer<WorkerLauncher>,
  options: { readonly params?: Partial<EndpointParams>; readonly sessions?: Layer.Layer<WorkerSessions>; readonly sidecar?: string } = {}
) =>
  Effect.map(
    Layer.build(
      ControlPlane.Default.pipe(
        Layer.provide(launcher),
        Layer.provide(ServerlessMetrics.Default),
        Layer.provide(options.sessions ?? WorkerSessions.layerNone),
        Layer.provide(
          Layer.succeed(ServerlessConfig, {
            ...settings,
            params: { ...settings.params, ...options.params },
            sidecar: Option.fromNullable(options.sidecar)
          })
        )
      )
    ),
    (context) => Context.get(context, ControlPlane)
  )

/** A plane whose idle workers are kept (only errors stop them), and a route call giving the answer's kind. */
const planeKeepingIdle = (launcher: Layer.Layer<WorkerLauncher>) =>
  Effect.map(buildPlane(launcher, { params: { inactivity_timeout: -1 } }), (plane) => ({
    plane,
    route: (requestIdx: number) =>
      Effect.map(plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx, connection: null }), (answer) => Option.getOrThrow(answer)._tag)
  }))

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
      takingNoSession: false,
      loadtime: 1,
      errorMsg: "",
      additionalDiskUsage: 0
    }
  )

/** The plane's one worker started and ready (for request 0), then holding request 1's session (load 100). */
const oneSessionHeld = (plane: ControlPlane, launched: ReadonlyArray<{ readonly spec: ProcessSpec }>) =>
  Effect.gen(function* () {
    const key = plane.endpointApiKey
    yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 0, connection: null })
    yield* plane.tick
    const token = launched[0]!.spec.env["MASTER_TOKEN"]!
    yield* plane.workerStatus(report(1, token, 0, []))
    yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 1, connection: null })
    yield* plane.workerStatus(report(1, token, 100, [1]))
    return { key, token }
  })

/** A plane keeping idle workers (only silence can stop one), started for request `requestIdx`: its one worker ready. */
const oneWorkerStarted = (requestIdx: number) =>
  Effect.gen(function* () {
    const { launched, layer } = yield* fakeLauncher
    const { plane, route } = yield* planeKeepingIdle(layer)
    yield* route(requestIdx)
    yield* plane.tick
    const token = launched[0]!.spec.env["MASTER_TOKEN"]!
    yield* plane.workerStatus(report(1, token, 0, []))
    return { launched, plane, route, token }
  })

/** A plane keeping idle workers, whose one worker is ready and was just routed request 1. */
const oneWorkerRouted = Effect.gen(function* () {
  const started = yield* oneWorkerStarted(1)
  assert.strictEqual(yield* started.route(1), "Ready")
  return started
})

describe("ControlPlane (TestClock, fake processes)", () => {
  it.scoped("a waiting reservation starts a worker; once ready it is routed there with a valid signature", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer)
      yield* plane.setBaseUrl("http://127.0.0.1:8080")
      const key = plane.endpointApiKey
      const first = yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 0, connection: null })
      assert.strictEqual(Option.getOrThrow(first)._tag, "Waiting")
      yield* plane.tick
      assert.lengthOf(launched, 1)
      const env = launched[0]!.spec.env
      assert.strictEqual(env["REPORT_ADDR"], "http://127.0.0.1:8080")
      assert.strictEqual(env["CONTAINER_ID"], "1")
      // Not ready yet: still waiting, and no second worker for the same request.
      assert.strictEqual(Option.getOrThrow(yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 1, connection: null }))._tag, "Waiting")
      yield* plane.tick
      assert.lengthOf(launched, 1)

      assert.isTrue(yield* plane.workerStatus(report(1, env["MASTER_TOKEN"]!, 0, [])))
      assert.isFalse(yield* plane.workerStatus(report(1, "wrong token", 0, [])))
      const ready = Option.getOrThrow(yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 1, connection: null }))
      assert.strictEqual(ready._tag, "Ready")
      if (ready._tag !== "Ready") return
      const url = String(ready.authData["url"])
      assert.strictEqual(url, `http://127.0.0.1:${env["WORKER_PORT"]}`)
      assert.strictEqual(ready.authData["request_idx"], 1)
      const signature = Buffer.from(String(ready.authData["signature"]), "base64")
      assert.isTrue(verify("sha256", Buffer.from(signedMessage(url)), plane.publicKeyPem, signature))
      // The wrong endpoint key gets nothing.
      assert.isTrue(Option.isNone(yield* plane.route({ endpoint: "null-local", apiKey: "nope", cost: 100, requestIdx: 0, connection: null })))
    })
  )

  it.scoped("a reservation routed before the busy worker's report of its session's end is answered when that report comes, and goes to it: no second worker, no second poll (sdk51 #2)", () =>
    Effect.gen(function* () {
      const { launched, plane, route, token } = yield* oneWorkerRouted
      yield* plane.workerStatus(report(1, token, 100, [1]))
      // The session ends; the worker's report of it is up to 250 ms away when the next reservation is routed.
      yield* TestClock.adjust("10 seconds")
      const held = yield* Effect.fork(route(2))
      yield* plane.tick
      yield* TestClock.adjust(`${REPORT_GRACE_MS - 1} millis`)
      yield* plane.tick
      assert.lengthOf(launched, 1)
      assert.isNull(held.unsafePoll(), "held for the report")
      assert.deepStrictEqual((yield* plane.status).waiting.map((request) => request.request_idx), [2])
      yield* plane.workerStatus(report(1, token, 0, []))
      assert.strictEqual(yield* Fiber.join(held), "Ready")
      assert.deepStrictEqual((yield* plane.status).waiting, [])
      assert.lengthOf(launched, 1)

      // Still busy one report's time later: the session is a real second one, the reservation is told to wait, and a
      // second worker starts.
      yield* plane.workerStatus(report(1, token, 100, [2]))
      const waiting = yield* Effect.fork(route(3))
      yield* TestClock.adjust(`${REPORT_GRACE_MS - 1} millis`)
      yield* plane.tick
      assert.lengthOf(launched, 1)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Fiber.join(waiting), "Waiting")
      yield* plane.tick
      assert.lengthOf(launched, 2)
      // Its next poll, past the grace, is answered at once.
      assert.strictEqual(yield* route(3), "Waiting")
    })
  )

  it.scoped("a reservation held for a report whose client goes away meanwhile is neither routed nor kept waiting; one a busy worker could not take is not held", () =>
    Effect.gen(function* () {
      const { plane, token } = yield* oneWorkerRouted
      yield* plane.workerStatus(report(1, token, 100, [1]))
      yield* TestClock.adjust("10 seconds")
      const ask = (requestIdx: number, cost: number) =>
        Effect.map(plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost, requestIdx, connection: 7 }), (answer) => Option.getOrThrow(answer)._tag)
      // More than the busy worker's reported load could free: answered at once.
      assert.strictEqual(yield* ask(2, 101), "Waiting")
      const held = yield* Effect.fork(ask(3, 100))
      yield* TestClock.adjust("1 millis")
      assert.isNull(held.unsafePoll())
      yield* plane.connectionClosed(7)
      yield* plane.workerStatus(report(1, token, 0, []))
      assert.strictEqual(yield* Fiber.join(held), "Waiting")
      const status = yield* plane.status
      assert.deepStrictEqual([status.waiting, status.workers[0]?.routed_load], [[], 0])
    })
  )

  it.scoped("a routed request stops counting at the first report more than 1 s after its routing that does not name it (review 43 L6g)", () =>
    Effect.gen(function* () {
      const { plane, token } = yield* oneWorkerRouted
      const loadOf = Effect.map(plane.status, (status) => status.workers[0]?.routed_load)
      // A report within the lag may predate the create: the route still counts.
      yield* TestClock.adjust("999 millis")
      yield* plane.workerStatus(report(1, token, 0, []))
      assert.strictEqual(yield* loadOf, 100)
      // Past it, a report without the request says the session is not there (refused, or already over).
      yield* TestClock.adjust("2 millis")
      yield* plane.workerStatus(report(1, token, 0, []))
      assert.strictEqual(yield* loadOf, 0)
    })
  )

  it.scoped("a routed request stops counting at once at a report that does not name it once the worker has received as many requests as were routed to it and refused none (sdk51 #3)", () =>
    Effect.gen(function* () {
      const { plane, token } = yield* oneWorkerRouted
      const loadOf = Effect.map(plane.status, (status) => status.workers[0]?.routed_load)
      const received = (count: number) => ({ ...report(1, token, 0, []), num_requests_recieved: count })
      // Request 1 routed here; a report within the lag that has not counted it: it may not have arrived, and still counts.
      yield* TestClock.adjust("10 millis")
      yield* plane.workerStatus(received(0))
      assert.strictEqual(yield* loadOf, 100)
      // Counted, but the worker refused load meanwhile: it may be this request, refused for want of room, which is demand
      // (Vast's over-routing: its 429s start a worker), and counts until its deletion record or the lag.
      yield* TestClock.adjust("10 millis")
      yield* plane.workerStatus({ ...received(1), rej_load: 100 })
      assert.strictEqual(yield* loadOf, 100)
      // Counted, nothing refused, and not named: its session is over already, well within the lag.
      yield* TestClock.adjust("10 millis")
      yield* plane.workerStatus(received(1))
      assert.strictEqual(yield* loadOf, 0)
    })
  )

  it.scoped("the count is taken from the last time every route had arrived or aged out: a request sent past the serverless, or a route never used, misleads it for a second at most (review 63 #1)", () =>
    Effect.gen(function* () {
      const { plane, route, token } = yield* oneWorkerRouted
      const loadOf = Effect.map(plane.status, (status) => status.workers[0]?.routed_load)
      const counted = (count: number, curLoad: number, working: ReadonlyArray<number>) => ({ ...report(1, token, curLoad, working), num_requests_recieved: count })
      // Request 1's session opened, and one more request counted that was not routed (a sessionless /ping).
      yield* plane.workerStatus(counted(2, 100, [1]))
      yield* TestClock.adjust("10 seconds")
      yield* plane.workerStatus(counted(2, 0, []))
      // Request 2 routed; a report before its create arrives counts no more than before: it still counts.
      assert.strictEqual(yield* route(2), "Ready")
      yield* TestClock.adjust("10 millis")
      yield* plane.workerStatus(counted(2, 0, []))
      assert.strictEqual(yield* loadOf, 100)
      // It never comes (its client went away): aged out after the lag, and the count taken again from there.
      yield* TestClock.adjust("1 second")
      yield* plane.workerStatus(counted(2, 0, []))
      assert.strictEqual(yield* loadOf, 0)
      // So request 3, opened and closed between two reports, is over at the next one.
      assert.strictEqual(yield* route(3), "Ready")
      yield* TestClock.adjust("10 millis")
      yield* plane.workerStatus(counted(3, 0, []))
      assert.strictEqual(yield* loadOf, 0)
    })
  )

  it.scoped("a route never used, while routes keep coming (max_queue_time 30), holds up only those answered in the same interval between two reports (review 64 #2)", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer, { params: { inactivity_timeout: -1, max_queue_time: 30 } })
      const ask = (requestIdx: number) =>
        Effect.map(plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx, connection: null }), (answer) => Option.getOrThrow(answer)._tag)
      assert.strictEqual(yield* ask(1), "Waiting")
      yield* plane.tick
      const token = launched[0]!.spec.env["MASTER_TOKEN"]!
      const counted = (count: number) => ({ ...report(1, token, 0, []), num_requests_recieved: count })
      yield* plane.workerStatus(counted(0))
      yield* TestClock.adjust("10 seconds")
      // Request 1 routed, its client gone before its create; then one session a report's time, opened and closed.
      assert.strictEqual(yield* ask(1), "Ready")
      let count = 0
      const loads: Array<number> = []
      for (let requestIdx = 2; requestIdx <= 8; requestIdx++) {
        yield* TestClock.adjust("400 millis")
        assert.strictEqual(yield* ask(requestIdx), "Ready")
        count += 1
        yield* TestClock.adjust("10 millis")
        yield* plane.workerStatus(counted(count))
        loads.push((yield* plane.status).workers[0]?.routed_load ?? -1)
        yield* plane.tick
      }
      // Held up in request 1's interval (request 2, counted at the next report), not after.
      assert.deepStrictEqual(loads, [100, 0, 0, 0, 0, 0, 0])
      assert.lengthOf(launched, 1)
    })
  )

  it.scoped("held requests woken by one report that makes room for one: the others are held on for the time left, and take the next worker's room (review 63 #2)", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer, { params: { inactivity_timeout: -1, min_load: 200 } })
      const ask = (requestIdx: number) =>
        Effect.map(plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx, connection: null }), (answer) => Option.getOrThrow(answer)._tag)
      yield* plane.tick
      assert.lengthOf(launched, 2)
      const [first, second] = launched.map((entry) => entry.spec.env["MASTER_TOKEN"]!)
      yield* plane.workerStatus(report(1, first!, 100, [91]))
      yield* plane.workerStatus(report(2, second!, 100, [92]))
      yield* TestClock.adjust("10 seconds")
      const a = yield* Effect.fork(ask(1))
      const b = yield* Effect.fork(ask(2))
      yield* TestClock.adjust("1 millis")
      yield* plane.workerStatus(report(1, first!, 0, []))
      assert.deepStrictEqual(yield* Fiber.join(a), "Ready")
      assert.isNull(b.unsafePoll(), "held on")
      yield* TestClock.adjust("10 millis")
      yield* plane.workerStatus(report(2, second!, 0, []))
      assert.deepStrictEqual(yield* Fiber.join(b), "Ready")
      // No worker at all: nothing could free room, and a request costing nothing is not held either.
      const empty = yield* buildPlane((yield* fakeLauncher).layer)
      const free = yield* empty.route({ endpoint: "null-local", apiKey: empty.endpointApiKey, cost: 0, requestIdx: 0, connection: null })
      assert.strictEqual(Option.getOrThrow(free)._tag, "Waiting")
    })
  )

  it.scoped("a session created and closed between two of the worker's reports is no longer load once its /delete_requests/ record comes", () =>
    Effect.gen(function* () {
      const { launched, plane, route, token } = yield* oneWorkerRouted
      // Its report (within 1 s of the route) shows no load: the session already came and went, and the route still counts.
      yield* TestClock.adjust("300 millis")
      yield* plane.workerStatus(report(1, token, 0, []))
      const loadOf = Effect.map(plane.status, (status) => status.workers[0]?.routed_load)
      const deletedOf = Effect.map(plane.status, (status) => status.deleted_requests)
      assert.strictEqual(yield* loadOf, 100)
      const record = { request_idx: 1, success: true, status: "Success" as const, entered_queue_at: 0, work_started_at: 0, work_completed_at: 0 }
      // A record with another worker's token, or an unknown worker's, is refused: it changes nothing and is not
      // counted (probe 35 L2: forged posts were). The worker's own clears the route.
      assert.isFalse(yield* plane.deleteRequests({ worker_id: 1, mtoken: "not the token", requests: [record] }))
      assert.isFalse(yield* plane.deleteRequests({ worker_id: 9, mtoken: token, requests: [record] }))
      assert.deepStrictEqual([yield* loadOf, yield* deletedOf], [100, 0])
      assert.isTrue(yield* plane.deleteRequests({ worker_id: 1, mtoken: token, requests: [record] }))
      assert.deepStrictEqual([yield* loadOf, yield* deletedOf], [0, 1])
      // Only the requests named: one routed since stays.
      assert.strictEqual(yield* route(2), "Ready")
      yield* plane.deleteRequests({ worker_id: 1, mtoken: token, requests: [record] })
      assert.strictEqual(yield* loadOf, 100)
      yield* plane.tick
      assert.lengthOf(launched, 1)
    })
  )

  it.scoped("a request routed again (its first worker refused it) counts only where it went last", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      // Two workers kept (min_load 200), each routable while busy (max_queue_time 30), as under Vast's defaults.
      const plane = yield* buildPlane(layer, { params: { inactivity_timeout: -1, max_queue_time: 30, min_load: 200 } })
      const route = (requestIdx: number) => plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx, connection: null })
      yield* plane.tick
      assert.lengthOf(launched, 2)
      const tokens = () => launched.map((entry) => entry.spec.env["MASTER_TOKEN"]!)
      for (const [index, token] of tokens().entries()) yield* plane.workerStatus(report(index + 1, token, 0, []))
      // Request 6 holds w1 and 8 holds w2; 7 goes to w1 (oldest on a tie), then, after its 429, to w2: it leaves w1.
      yield* route(6)
      yield* route(8)
      yield* route(7)
      assert.deepStrictEqual((yield* plane.status).workers.map((worker) => worker.routed_load), [200, 100])
      yield* route(7)
      assert.deepStrictEqual((yield* plane.status).workers.map((worker) => worker.routed_load), [100, 200])
    })
  )

  it.scoped("an idle worker stops exactly inactivity_timeout after its load dropped to zero; a dead one is noticed and removed", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer)
      yield* plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx: 0, connection: null })
      yield* plane.tick
      const token = launched[0]!.spec.env["MASTER_TOKEN"]!
      yield* plane.workerStatus(report(1, token, 0, []))
      // The client polls again and is routed: it is no longer waiting.
      yield* plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx: 1, connection: null })
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
      yield* plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx: 0, connection: null })
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

  it.effect("stopAll stops the workers once: the program's stop and then its scope's close say stopping and stopped once (review 43 L6f)", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { launched, plane, token } = yield* Scope.extend(oneWorkerStarted(1), scope)
      yield* plane.setBaseUrl("http://127.0.0.1:8080")
      yield* plane.workerStatus(report(1, token, 0, []))
      yield* plane.stopAll
      yield* Scope.close(scope, Exit.void)
      const texts = (yield* plane.status).events.map((event) => event.text)
      assert.deepStrictEqual(texts.filter((text) => text.startsWith("stopping") || text === "stopped"), ["stopped", "stopping: 1 worker(s)"])
      assert.isTrue(launched[0]!.stopped)
    })
  )

  it.scoped("a ready worker silent for three heartbeats is errored: no more routes, stopped, and replaced when load needs it", () =>
    Effect.gen(function* () {
      // Idle workers are kept: only the silence can stop this one.
      const { launched, plane, route, token } = yield* oneWorkerStarted(0)
      assert.strictEqual(SILENCE_LIMIT_MS, 30_000)
      // A heartbeat within the limit keeps it: the silence counts from the last report.
      yield* TestClock.adjust("20 seconds")
      yield* plane.workerStatus(report(1, token, 0, []))
      yield* TestClock.adjust("30 seconds")
      yield* plane.tick
      assert.strictEqual((yield* plane.status).workers[0]?.state, "idle")
      assert.isFalse(launched[0]!.stopped)
      // One millisecond past three heartbeats: a route finds no worker and waits.
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* route(1), "Waiting")
      const silent = (yield* plane.status).workers[0]
      assert.strictEqual(silent?.state, "errored")
      assert.include(silent?.error_msg ?? "", "no report for over 30 s")
      yield* plane.tick
      yield* TestClock.adjust("0 millis")
      assert.isTrue(launched[0]!.stopped)
      // The waiting request gets a new worker in its place.
      assert.lengthOf(launched, 2)
      assert.deepStrictEqual((yield* plane.status).workers.map((w) => [w.id, w.state]), [[2, "starting"]])
      assert.include(yield* plane.metricsText, 'null_serverless_scale_events_total{action="stop",reason="errored"} 1')
    })
  )

  describe("a step of the wall clock (NTP, a laptop's sleep) moves no age: they are on the monotonic clock (probe 58 #1)", () => {
    /** The test's clock with its wall time stepped by `stepMs`; its monotonic time, and its sleeps, as they are. */
    const wallStepped = (clock: Clock.Clock, stepMs: number): Clock.Clock => ({
      [Clock.ClockTypeId]: Clock.ClockTypeId,
      unsafeCurrentTimeMillis: () => clock.unsafeCurrentTimeMillis() + stepMs,
      currentTimeMillis: Effect.map(clock.currentTimeMillis, (millis) => millis + stepMs),
      unsafeCurrentTimeNanos: () => clock.unsafeCurrentTimeNanos(),
      currentTimeNanos: clock.currentTimeNanos,
      sleep: (duration) => clock.sleep(duration)
    })

    it.scoped("forward 45 s: a worker that reported a second ago is not taken for silent (it had been errored and its session lost)", () =>
      Effect.gen(function* () {
        const { launched, plane, route, token } = yield* oneWorkerStarted(0)
        yield* TestClock.adjust("1 second")
        yield* plane.workerStatus(report(1, token, 0, []))
        const stepped = wallStepped(yield* Effect.clock, 45_000)
        yield* Effect.withClock(plane.tick, stepped)
        assert.strictEqual(yield* Effect.withClock(route(1), stepped), "Ready")
        assert.deepStrictEqual((yield* Effect.withClock(plane.status, stepped)).workers.map((worker) => [worker.state, worker.error_msg]), [["busy", ""]])
        assert.isFalse(launched[0]!.stopped)
        // Shown as the wall clock's now, beside the workers' own times (a session's expires_at): ages kept (review 65 #2).
        yield* TestClock.adjust("1 second")
        const shown = yield* Effect.withClock(plane.status, stepped)
        assert.strictEqual(shown.at, stepped.unsafeCurrentTimeMillis() / 1000)
        assert.strictEqual(shown.at - (shown.workers[0]?.last_report_at ?? 0), 1)
      })
    )

    it.scoped("back 1 h: a request not polled for 7 s is still dropped (it had waited on for the hour)", () =>
      Effect.gen(function* () {
        const { layer } = yield* fakeLauncher
        const plane = yield* buildPlane(layer, { params: { max_workers: 0 } })
        yield* plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx: 0, connection: null })
        yield* TestClock.adjust("7001 millis")
        const stepped = wallStepped(yield* Effect.clock, -3_600_000)
        yield* Effect.withClock(plane.tick, stepped)
        assert.deepStrictEqual((yield* Effect.withClock(plane.status, stepped)).waiting, [])
      })
    )
  })

  it.scoped("the status page lists the 100 requests waiting longest, and says how many wait in all", () =>
    Effect.gen(function* () {
      const { layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer, { params: { max_workers: 0 } })
      const indexes: Array<number> = []
      for (let i = 0; i < 150; i++) {
        const answer = yield* plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx: 0, connection: null })
        const waiting = Option.getOrThrow(answer)
        if (waiting._tag === "Waiting") indexes.push(Number(waiting.body["request_idx"]))
        yield* TestClock.adjust("10 millis")
      }
      assert.lengthOf(indexes, 150)
      const page = statusPage(yield* plane.status)
      assert.include(page, "<h2>Waiting route requests (150; the 100 waiting longest shown)</h2>")
      const rows = (page.split("<h2>Waiting route requests")[1] ?? "").split("</table>")[0] ?? ""
      const shown = Array.from(rows.matchAll(/<tr[^>]*><td>(\d+)<\/td>/g), (match) => Number(match[1]))
      assert.deepStrictEqual(shown, indexes.slice(0, 100))
    })
  )

  it.scoped("a worker that never reports is errored 60 s after its start, stopped, and replaced while a request waits", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const { plane, route } = yield* planeKeepingIdle(layer)
      assert.strictEqual(yield* route(0), "Waiting")
      yield* plane.tick
      assert.lengthOf(launched, 1)
      yield* TestClock.adjust("60 seconds")
      yield* plane.tick
      assert.strictEqual((yield* plane.status).workers[0]?.state, "starting")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* route(1), "Waiting")
      const stuck = (yield* plane.status).workers[0]
      assert.strictEqual(stuck?.state, "errored")
      assert.strictEqual(stuck?.error_msg, "not ready 60 s after its start (it never reported): replaced")
      yield* plane.tick
      yield* TestClock.adjust("0 millis")
      assert.isTrue(launched[0]!.stopped)
      assert.lengthOf(launched, 2)
    })
  )

  it.scoped("a worker replaced for never getting ready: the replacement says what the worker last said it waited for", () =>
    Effect.gen(function* () {
      const waitingLine = 'timestamp=2026-11-30T10:00:00.000Z level=INFO message="waiting for the consumer: Healthcheck failed: ECONNREFUSED"'
      const keyLoaded = 'timestamp=2026-11-30T10:00:00.017Z level=INFO message="Serverless public key loaded"'
      const { layer } = yield* fakeLauncherWith([waitingLine, keyLoaded])
      const { plane, route } = yield* planeKeepingIdle(layer)
      assert.strictEqual(yield* route(0), "Waiting")
      yield* plane.tick
      yield* TestClock.adjust("60001 millis")
      yield* plane.tick
      assert.strictEqual(
        (yield* plane.status).workers[0]?.error_msg,
        "not ready 60 s after its start (it never reported; its last word: waiting for the consumer: Healthcheck failed: ECONNREFUSED; since then: Serverless public key loaded): replaced"
      )
    })
  )

  it.scoped("a sidecar that exits is logged and shown; its worker is errored, stopped and replaced (as start-vast.sh stops it on Vast)", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer, { sidecar: "exit 3" })
      const key = plane.endpointApiKey
      yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 0, connection: null })
      yield* plane.tick
      assert.deepStrictEqual(launched.map((entry) => entry.spec.name), ["w1", "w1/sidecar"])
      const [worker, sidecar] = launched
      yield* plane.workerStatus(report(1, worker!.spec.env["MASTER_TOKEN"]!, 0, []))
      assert.strictEqual((yield* plane.status).workers[0]?.sidecar_exit, null)
      yield* Deferred.succeed(sidecar!.exit, "3")
      yield* TestClock.adjust("0 millis")
      const shown = (yield* plane.status).workers[0]
      assert.deepInclude(shown, { state: "errored", error_msg: "sidecar exited (3)", sidecar_exit: "3", exit: null })
      assert.strictEqual((yield* plane.status).events[0]?.text, "w1 sidecar exited (3): stopping the worker (--verbose shows its output)")
      assert.isFalse(worker!.stopped)
      // No route to it; the next decision stops it, and the request still waiting gets a new worker.
      assert.strictEqual(Option.getOrThrow(yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 1, connection: null }))._tag, "Waiting")
      yield* plane.tick
      yield* TestClock.adjust("0 millis")
      assert.isTrue(worker!.stopped)
      assert.deepStrictEqual(launched.map((entry) => entry.spec.name), ["w1", "w1/sidecar", "w2", "w2/sidecar"])
      assert.deepStrictEqual((yield* plane.status).workers.map((w) => w.id), [2])
    })
  )

  it.scoped("workers that fail in a row before their first ready report are replaced after a growing wait (0, 1 s, 2 s, … 30 s); failing soon after ready counts too, staying ready SETTLED_MS resets it", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer)
      const key = plane.endpointApiKey
      const first = Option.getOrThrow(yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 0, connection: null }))
      // One reservation throughout: it polls again with the request_idx it was given.
      const requestIdx = first._tag === "Waiting" ? Number(first.body["request_idx"]) : 0
      const poll = plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx, connection: null })
      const names = () => launched.map((entry) => entry.spec.name)
      const failLatest = Effect.gen(function* () {
        yield* Deferred.succeed(launched[launched.length - 1]!.exit, "1")
        yield* TestClock.adjust("0 millis")
        yield* plane.tick
        yield* TestClock.adjust("0 millis")
      })
      const tickAfter = (millis: number) =>
        Effect.gen(function* () {
          yield* TestClock.adjust(`${millis} millis`)
          yield* poll
          yield* plane.tick
          return names()
        })
      yield* plane.tick
      assert.deepStrictEqual(names(), ["w1"])
      // The first failure is replaced in the same tick, as before.
      yield* failLatest
      assert.deepStrictEqual(names(), ["w1", "w2"])
      yield* failLatest
      assert.deepStrictEqual(yield* tickAfter(999), ["w1", "w2"])
      assert.deepStrictEqual(yield* tickAfter(1), ["w1", "w2", "w3"])
      yield* failLatest
      assert.deepStrictEqual(yield* tickAfter(1999), ["w1", "w2", "w3"])
      assert.deepStrictEqual(yield* tickAfter(1), ["w1", "w2", "w3", "w4"])
      // w4 gets ready and fails within SETTLED_MS of it: still a failed start, the fourth in a row (a 4 s wait).
      yield* plane.workerStatus(report(4, launched[3]!.spec.env["MASTER_TOKEN"]!, 0, []))
      yield* TestClock.adjust(`${SETTLED_MS - 2000} millis`)
      yield* failLatest
      assert.deepStrictEqual(yield* tickAfter(3999), ["w1", "w2", "w3", "w4"])
      assert.deepStrictEqual(yield* tickAfter(1), ["w1", "w2", "w3", "w4", "w5"])
      // w5 stays ready SETTLED_MS: the count starts again, and its later failure is replaced at once.
      yield* plane.workerStatus(report(5, launched[4]!.spec.env["MASTER_TOKEN"]!, 0, []))
      yield* tickAfter(SETTLED_MS)
      yield* plane.workerStatus(report(5, launched[4]!.spec.env["MASTER_TOKEN"]!, 0, []))
      yield* failLatest
      assert.deepStrictEqual(yield* tickAfter(0), ["w1", "w2", "w3", "w4", "w5", "w6"])
      // The count started again at w5: w6 failing cold is a first failure, replaced at once.
      yield* failLatest
      assert.deepStrictEqual(yield* tickAfter(0), ["w1", "w2", "w3", "w4", "w5", "w6", "w7"])
    })
  )

  it.scoped("a ready worker that exits 0 on its own (it drained) is stopped, not errored, and its replacement is not held back as after failed starts", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer, { params: { min_load: 100, target_util: 1 } })
      const drainAndExit = (index: number) =>
        Effect.gen(function* () {
          const token = launched[index]!.spec.env["MASTER_TOKEN"]!
          yield* plane.workerStatus(report(index + 1, token, 0, []))
          yield* TestClock.adjust("1 second")
          yield* plane.workerStatus({ ...report(index + 1, token, 0, []), max_perf: 0 })
          yield* Deferred.succeed(launched[index]!.exit, "0")
          yield* TestClock.adjust("0 millis")
        })
      yield* plane.tick
      // Three workers in a row drain and exit within a second of ready: none is a failed start, each is replaced at once.
      for (let index = 0; index < 3; index++) {
        yield* drainAndExit(index)
        assert.deepStrictEqual((yield* plane.status).workers.filter((w) => w.id === index + 1).map((w) => w.state), [])
        yield* plane.tick
        assert.lengthOf(launched, index + 2)
      }
      const texts = (yield* plane.status).events.map((event) => event.text)
      assert.includeMembers(texts, ["w1 exited on its own (0): it drained", "w1 stopping (exited after a drain)", "w1 stopped"])
      const exposition = yield* plane.metricsText
      assert.include(exposition, 'null_serverless_scale_events_total{action="stop",reason="errored"} 0')
      assert.include(exposition, 'null_serverless_scale_events_total{action="stop",reason="exited"} 3')
    })
  )

  it.scoped("a worker that exits 0 without having reported a drain (ready or not yet) is errored, as any worker that dies", () =>
    Effect.gen(function* () {
      for (const reportedReady of [true, false]) {
        const { launched, layer } = yield* fakeLauncher
        const plane = yield* buildPlane(layer, { params: { min_load: 100, target_util: 1 } })
        yield* plane.tick
        if (reportedReady) yield* plane.workerStatus(report(1, launched[0]!.spec.env["MASTER_TOKEN"]!, 0, []))
        yield* Deferred.succeed(launched[0]!.exit, "0")
        yield* TestClock.adjust("0 millis")
        const dead = (yield* plane.status).workers[0]
        assert.deepStrictEqual([dead?.state, dead?.exit], ["errored", "0"], `reported ready: ${reportedReady}`)
      }
    })
  )

  it.scoped("a worker settled long ago does not keep the back-off of another worker's failing launches at zero", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer, { params: { min_load: 200, target_util: 1 } })
      yield* plane.tick
      assert.lengthOf(launched, 2)
      // w1 gets ready and settles; w2 never gets ready.
      yield* plane.workerStatus(report(1, launched[0]!.spec.env["MASTER_TOKEN"]!, 0, []))
      yield* TestClock.adjust(`${SETTLED_MS} millis`)
      yield* plane.tick
      yield* plane.workerStatus(report(1, launched[0]!.spec.env["MASTER_TOKEN"]!, 0, []))
      const counts: Array<number> = []
      for (let failure = 0; failure < 6; failure++) {
        yield* Deferred.succeed(launched[launched.length - 1]!.exit, "1")
        yield* TestClock.adjust("100 millis")
        yield* plane.tick
        yield* TestClock.adjust("0 millis")
        counts.push(launched.length)
      }
      // The first failure is replaced at once; from the second the starts wait (1 s, then more): not one per tick.
      assert.deepStrictEqual(counts, [3, 3, 3, 3, 3, 3])
    })
  )

  it.scoped("workers that fail in the same tick count as one failure: three cold workers failing together are replaced at once", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer, { params: { min_load: 300, target_util: 1 } })
      yield* plane.tick
      assert.lengthOf(launched, 3)
      for (const entry of launched) yield* Deferred.succeed(entry.exit, "1")
      yield* TestClock.adjust("0 millis")
      yield* plane.tick
      assert.lengthOf(launched, 6)
      // The second failure in a row (again three at once) makes the next starts wait 1 s.
      for (const entry of launched.slice(3)) yield* Deferred.succeed(entry.exit, "1")
      yield* TestClock.adjust("0 millis")
      yield* plane.tick
      assert.lengthOf(launched, 6)
      yield* TestClock.adjust("1 second")
      yield* plane.tick
      assert.lengthOf(launched, 9)
    })
  )

  it("the wait after failed starts: none after one, then doubling from 1 s up to 30 s", () => {
    assert.deepStrictEqual([0, 1, 2, 3, 4, 6, 7, 20].map(failedStartBackoffMs), [0, 0, 1000, 2000, 4000, 16_000, 30_000, 30_000])
  })

  it.scoped("a worker still starting shows its latest output in /status and on the status page (what it waits for)", () =>
    Effect.gen(function* () {
      // The worker says its wait for the consumer at info, once per reason (Lifecycle.ts).
      const waitingLine = 'timestamp=2026-11-30T10:00:00.000Z level=INFO message="waiting for the consumer: Healthcheck failed with status: 503"'
      const { launched, layer } = yield* fakeLauncherWith(["timestamp=… level=INFO message=\"worker starting\"", waitingLine])
      const plane = yield* buildPlane(layer)
      yield* plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx: 0, connection: null })
      yield* plane.tick
      const starting = yield* plane.status
      assert.deepStrictEqual(starting.workers[0]?.log_tail.at(-1), waitingLine)
      assert.include(statusPage(starting), "<td>(starting) waiting for the consumer: Healthcheck failed with status: 503</td>")
      const cellFor = (lines: ReadonlyArray<string>) =>
        Effect.gen(function* () {
          const launcher = yield* fakeLauncherWith(lines)
          const built = yield* buildPlane(launcher.layer)
          yield* built.route({ endpoint: "null-local", apiKey: built.endpointApiKey, cost: 100, requestIdx: 0, connection: null })
          yield* built.tick
          return /<td>\(starting\)[^<]*<\/td>/.exec(statusPage(yield* built.status))?.[0]
        })
      const keyLoaded = 'timestamp=2026-11-30T10:00:00.017Z level=INFO message="Serverless public key loaded"'
      const keyFailed = 'timestamp=2026-11-30T10:00:00.005Z level=WARN message="Serverless public key fetch attempt 1 failed: status 503; trying again"'
      // A later line (the key loaded after the wait was said, once) does not hide what it waits for; it is shown beside it.
      assert.strictEqual(
        yield* cellFor([waitingLine, keyLoaded]),
        "<td>(starting) waiting for the consumer: Healthcheck failed with status: 503; since then: Serverless public key loaded</td>"
      )
      // A warning that a later line cleared is not shown over the wait that followed it.
      assert.strictEqual(yield* cellFor([keyFailed, keyLoaded, waitingLine]), "<td>(starting) waiting for the consumer: Healthcheck failed with status: 503</td>")
      assert.strictEqual(
        yield* cellFor([keyFailed, "timestamp=… level=INFO message=listening"]),
        "<td>(starting) Serverless public key fetch attempt 1 failed: status 503; trying again; since then: listening</td>"
      )
      // A message that quotes a level is not a warning: the level is the line's own field.
      const quoting = 'timestamp=2026-11-30T10:00:00.009Z level=INFO message="consumer said: level=ERROR disk full"'
      assert.strictEqual(yield* cellFor([quoting, "timestamp=… level=INFO message=listening"]), "<td>(starting) listening</td>")
      // A one-word message is written unquoted by logfmt: it is shown alone too.
      assert.strictEqual(yield* cellFor(["timestamp=2026-11-30T10:00:00.000Z level=INFO fiber=#3 message=listening"]), "<td>(starting) listening</td>")
      // Once ready, the output is no longer shown.
      yield* plane.workerStatus(report(1, launched[0]!.spec.env["MASTER_TOKEN"]!, 0, []))
      const ready = yield* plane.status
      assert.deepStrictEqual(ready.workers[0]?.log_tail, [])
      assert.notInclude(statusPage(ready), "(starting)")
    })
  )

  it.scoped("idle time runs from the report that showed the load gone, not from the last report that showed load", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer)
      const { token } = yield* oneSessionHeld(plane, launched)
      // A heartbeat 10 s later still shows the session; it ends 2 s after that.
      yield* TestClock.adjust("10 seconds")
      yield* plane.workerStatus(report(1, token, 100, [1]))
      yield* TestClock.adjust("2 seconds")
      yield* plane.workerStatus(report(1, token, 0, []))
      // 10 s after the heartbeat, but only 8 s after the session ended: the worker stays.
      yield* TestClock.adjust("8 seconds")
      yield* plane.tick
      assert.isFalse(launched[0]!.stopped)
      assert.strictEqual((yield* plane.status).workers[0]?.idle_s, 8)
      yield* TestClock.adjust("1999 millis")
      yield* plane.tick
      assert.isFalse(launched[0]!.stopped)
      yield* TestClock.adjust("1 millis")
      yield* plane.tick
      yield* TestClock.adjust("0 millis")
      assert.isTrue(launched[0]!.stopped)
      const exposition = yield* plane.metricsText
      assert.include(exposition, 'null_serverless_scale_events_total{action="start",reason="capacity"} 1')
      assert.include(exposition, 'null_serverless_scale_events_total{action="stop",reason="idle"} 1')
      assert.include(exposition, 'null_serverless_route_requests_total{answer="ready"} 1')
    })
  )

  it.scoped("a waiting request whose client closed its connection is dropped at once, and no worker starts for it", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer)
      const first = yield* plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx: 0, connection: 7 })
      assert.strictEqual(Option.getOrThrow(first)._tag, "Waiting")
      // Another client's connection closing changes nothing.
      yield* plane.connectionClosed(8)
      assert.lengthOf((yield* plane.status).waiting, 1)
      yield* plane.connectionClosed(7)
      assert.lengthOf((yield* plane.status).waiting, 0)
      yield* plane.tick
      assert.lengthOf(launched, 0)
      assert.include(yield* plane.metricsText, 'null_serverless_route_requests_dropped_total{reason="client_gone"} 1')
      assert.include((yield* plane.status).events[0]?.text ?? "", "dropped: its client closed the connection")
    })
  )

  it.scoped("a waiting request not polled for 7 s is dropped; one polled in time stays", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      // No room for a worker: the requests can only wait.
      const plane = yield* buildPlane(layer, { params: { max_workers: 0 } })
      const key = plane.endpointApiKey
      yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 0, connection: null })
      yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 0, connection: null })
      yield* TestClock.adjust("5 seconds")
      // The second client polls again (request_idx 2); the first does not.
      yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 100, requestIdx: 2, connection: null })
      yield* TestClock.adjust("2 seconds")
      yield* plane.tick
      assert.deepStrictEqual((yield* plane.status).waiting.map((r) => r.request_idx), [1, 2])
      yield* TestClock.adjust("1 millis")
      yield* plane.tick
      const waiting = (yield* plane.status).waiting
      assert.deepStrictEqual(waiting.map((r) => [r.request_idx, r.waiting_s]), [[2, 7.001]])
      assert.lengthOf(launched, 0)
      assert.include(yield* plane.metricsText, 'null_serverless_route_requests_dropped_total{reason="not_polled"} 1')
      assert.include(yield* plane.metricsText, "null_serverless_route_requests_waiting 1")
    })
  )

  it.scoped("the endpoint lookup answers the real API's fields, from the configured parameters", () =>
    Effect.gen(function* () {
      const { layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer, { params: { max_workers: 4, cold_workers: 1 } })
      assert.isTrue(Option.isNone(yield* plane.endpoints("wrong")))
      const [record] = Option.getOrThrow(yield* plane.endpoints("k"))
      assert.deepStrictEqual(Object.keys(record ?? {}).sort(), [
        "api_key",
        "cold_mult",
        "cold_workers",
        "created_at",
        "endpoint_name",
        "endpoint_state",
        "id",
        "inactivity_timeout",
        "max_queue_time",
        "max_workers",
        "min_cold_load",
        "min_load",
        "target_queue_time",
        "target_util",
        "user_id"
      ])
      assert.deepInclude(record, {
        id: 1,
        endpoint_name: "null-local",
        api_key: plane.endpointApiKey,
        target_util: 1,
        min_load: 0,
        max_workers: 4,
        cold_workers: 1,
        inactivity_timeout: 10,
        max_queue_time: 0,
        target_queue_time: 0,
        endpoint_state: "active"
      })
    })
  )

  it.scoped("the status shows the sessions each ready worker holds, as its control port lists them", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const asked: Array<string> = []
      const held: ReadonlyArray<SessionView> = [{ session_id: "abcDEF1234567", generation: 1, created_at: 1, expires_at: 61, cost: 100, request_idx: 7 }]
      const sessions = Layer.succeed(
        WorkerSessions,
        WorkerSessions.of({
          held: (url) =>
            Effect.sync(() => {
              asked.push(url)
              return Option.some(held)
            })
        })
      )
      const plane = yield* buildPlane(layer, { sessions })
      yield* plane.route({ endpoint: "null-local", apiKey: plane.endpointApiKey, cost: 100, requestIdx: 0, connection: null })
      yield* plane.tick
      // Starting: not asked.
      assert.isNull((yield* plane.status).workers[0]?.sessions)
      assert.lengthOf(asked, 0)
      yield* plane.workerStatus(report(1, launched[0]!.spec.env["MASTER_TOKEN"]!, 0, []))
      assert.deepStrictEqual((yield* plane.status).workers[0]?.sessions, held)
      assert.deepStrictEqual(asked, [`http://127.0.0.1:${launched[0]!.spec.env["NULL_CONTROL_PORT"]}`])
    })
  )

  it.scoped("a status taken while a worker is slow to list its sessions counts idle and waiting times from after the answer: never below zero (newcomer 27 #3)", () =>
    Effect.gen(function* () {
      const { launched, layer } = yield* fakeLauncher
      const answer = yield* Deferred.make<void>()
      const sessions = Layer.succeed(WorkerSessions, WorkerSessions.of({ held: () => Effect.as(Deferred.await(answer), Option.some([])) }))
      const plane = yield* buildPlane(layer, { sessions })
      const { key, token } = yield* oneSessionHeld(plane, launched)
      const taking = yield* Effect.fork(plane.status)
      // While the worker's answer is on its way, a reservation comes that finds it busy, and then its session ends.
      yield* TestClock.adjust("1 second")
      // A cost the busy worker's report could not free room for: told to wait at once, not held for that report.
      yield* plane.route({ endpoint: "null-local", apiKey: key, cost: 150, requestIdx: 2, connection: null })
      yield* plane.workerStatus(report(1, token, 0, []))
      yield* Deferred.succeed(answer, undefined)
      const status = yield* Fiber.join(taking)
      assert.strictEqual(status.workers[0]?.idle_s, 0)
      assert.deepStrictEqual(status.waiting.map((request) => [request.request_idx, request.waiting_s]), [[2, 0]])
      assert.strictEqual(status.at, 1)
    })
  )

  it.scoped("events and callbacks are bounded: the newest events first, the newest 100 callbacks, and the totals", () =>
    Effect.gen(function* () {
      const { layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer)
      for (let n = 1; n <= 150; n++) yield* plane.callback("/callbacks/t", { n })
      const status = yield* plane.status
      assert.strictEqual(status.callbacks_received, 150)
      assert.lengthOf(status.callbacks, 100)
      assert.deepStrictEqual(status.callbacks[0]?.body, { n: 51 })
      assert.lengthOf(status.events, 50)
      assert.strictEqual(status.events_total, 150)
      assert.include(status.events[0]?.text ?? "", '{"n":150}')
      assert.include(yield* plane.metricsText, "null_serverless_callbacks_received_total 150")
    })
  )

  it.scoped("a large callback body is kept, shown and logged as its size and first characters; a small one whole", () =>
    Effect.gen(function* () {
      const { layer } = yield* fakeLauncher
      const plane = yield* buildPlane(layer)
      const big = { job: "j-1", blob: "x".repeat(1024 * 1024), session_id: "s-1", close_reason: "ended" }
      yield* plane.callback("/callbacks/big", big)
      yield* plane.callback("/callbacks/small", { job: "j-2" })
      const status = yield* plane.status
      const [kept, small] = status.callbacks
      const text = JSON.stringify(big)
      assert.deepStrictEqual(kept?.body, { truncated: true, bytes: Buffer.byteLength(text), head: text.slice(0, 256) })
      assert.deepStrictEqual(small?.body, { job: "j-2" })
      assert.isBelow(JSON.stringify(status).length, CALLBACK_BODY_SHOWN * 2)
      assert.isTrue(status.events.every((event) => event.text.length < CALLBACK_BODY_SHOWN), "no event line carries the whole body")
    })
  )
})

describe("keptCallbackBody", () => {
  it("a body whose JSON is exactly the shown size is kept whole; one character more is kept as its size and head (review 43 L6e)", () => {
    // `{"p":"…"}` is 8 characters around the string.
    const body = (length: number) => ({ p: "x".repeat(length - 8) })
    assert.strictEqual(JSON.stringify(body(CALLBACK_BODY_SHOWN)).length, CALLBACK_BODY_SHOWN)
    assert.deepStrictEqual(keptCallbackBody(body(CALLBACK_BODY_SHOWN)), body(CALLBACK_BODY_SHOWN))
    const over = JSON.stringify(body(CALLBACK_BODY_SHOWN + 1))
    assert.deepStrictEqual(keptCallbackBody(body(CALLBACK_BODY_SHOWN + 1)), { truncated: true, bytes: over.length, head: over.slice(0, 256) })
  })
})
