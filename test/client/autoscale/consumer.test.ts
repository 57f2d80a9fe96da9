/**
 * The consumer library against a real redis-server and a real worker process (`node dist/main.js`): it
 * waits to be reserved, takes jobs (new ones and a crashed consumer's), stores and acknowledges them,
 * releases its worker by its session id when idle (not while the keep lease protects it), and stops
 * taking jobs when the worker drains.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Duration, Effect, Exit, Fiber, Layer, Schema } from "effect"
import { Redis } from "ioredis"
import { afterEach, describe, expect, it } from "vitest"
import { type ConsumerEvent, runConsumer } from "../../../src/client/autoscale/consumer.js"
import { JobStream } from "../../../src/client/autoscale/JobStream.js"
import { connectRedis } from "../../../src/client/autoscale/redis.js"
import { WorkerControl } from "../../../src/client/autoscale/WorkerControl.js"
import { SessionsAnswer } from "../../../src/protocol/control.js"
import { tracked } from "../../support/cleanup.js"
import { FakeAutoscaler } from "../../support/fakeAutoscaler.js"
import { freePort, spawnWorker } from "../../support/process.js"
import { type RunningRedis, skipWithoutRedis, startRedis } from "../../support/redisServer.js"
import { authData } from "../../support/sessions.js"

const { cleanup, processes } = tracked()
const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop()
  await cleanup()
})

const decodeSessions = Schema.decodeUnknownSync(SessionsAnswer)
const decodeGroups = Schema.decodeUnknownSync(Schema.Array(Schema.Array(Schema.Unknown)))
const decodeObject = Schema.decodeUnknownSync(Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.Unknown })))

const waitUntil = async (what: string, check: () => Promise<boolean> | boolean, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const decodeDebug = Schema.decodeUnknownSync(Schema.Struct({ long_polls: Schema.Struct({ waiting: Schema.Number }) }))

/** The long polls of `GET /sessions` waiting on the worker now (`/debug`). */
const longPollsWaiting = async (controlUrl: string): Promise<number> =>
  decodeDebug(await (await fetch(`${controlUrl}/debug`)).json()).long_polls.waiting

const post = async (url: string, body?: unknown) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  const text = await response.text()
  return { status: response.status, json: text === "" ? null : decodeObject(text) }
}

const startWorkerProcess = async () => {
  const autoscaler = await FakeAutoscaler.start()
  stops.push(() => autoscaler.close())
  const [workerPort, httpPort, controlPort] = [await freePort(), await freePort(), await freePort()]
  const worker = spawnWorker({
    WORKER_PORT: String(workerPort),
    WORKER_HTTP_PORT: String(httpPort),
    NULL_CONTROL_PORT: String(controlPort),
    REPORT_ADDR: autoscaler.url,
    CONTAINER_ID: "3",
    PUBLIC_IPADDR: "127.0.0.1",
    [`VAST_TCP_PORT_${workerPort}`]: String(workerPort),
    UNSECURED: "true",
    DRAIN_TIMEOUT: "3"
  })
  processes.push(worker)
  await worker.waitFor("control listening")
  const controlUrl = `http://127.0.0.1:${controlPort}`
  return {
    worker,
    controlUrl,
    create: async () => {
      const created = await post(`http://127.0.0.1:${workerPort}/session/create`, { auth_data: authData(), payload: { lifetime: 60 } })
      expect(created.status).toBe(201)
      return { sessionId: String(created.json?.["session_id"]), generation: Number(created.json?.["generation"]) }
    },
    sessions: async () => decodeSessions(await (await fetch(`${controlUrl}/sessions`)).json())
  }
}

/** The consumer library, in this process, against `redis` and the worker at `controlUrl`. */
const startConsumer = (redis: RunningRedis, controlUrl: string, events: Array<ConsumerEvent>) => {
  const program = Effect.gen(function* () {
    const quick = yield* connectRedis(redis.url)
    const blocking = yield* connectRedis(redis.url)
    const layers = Layer.merge(
      JobStream.layerRedis(quick, blocking, { stream: "jobs", group: "workers", consumer: "c-test", prefix: "jobs:autoscale", jobKeyField: "job_id" }),
      WorkerControl.layer(controlUrl).pipe(Layer.provide(NodeHttpClient.layer))
    )
    yield* runConsumer(
      { idleGrace: Duration.seconds(1), claimMinIdle: Duration.seconds(1), block: Duration.millis(200), pollWait: 5 },
      (job) =>
        Effect.as(
          Effect.sleep(Duration.millis(Number(job.fields["work_ms"] ?? "50"))),
          JSON.stringify({ job: job.key, reclaimed: job.reclaimed })
        ),
      (event) => Effect.sync(() => void events.push(event))
    ).pipe(Effect.provide(layers))
  }).pipe(Effect.scoped)
  const fiber = Effect.runFork(program)
  stops.push(async () => {
    const exit = await Effect.runPromise(Fiber.interrupt(fiber))
    expect(Exit.isInterrupted(exit)).toBe(true)
  })
}

describe.skipIf(skipWithoutRedis("the consumer library tests"))("the consumer library (real redis-server, real worker)", { timeout: 60_000 }, () => {
  it("waits to be reserved; takes new jobs and a dead consumer's; stores and acks each once; releases its worker when idle, not while protected; stops pulling while draining", async () => {
    const redis = await startRedis()
    stops.push(() => redis.stop())
    const client = new Redis(redis.url, { maxRetriesPerRequest: null })
    client.on("error", () => undefined)
    stops.push(async () => void client.disconnect())
    const worker = await startWorkerProcess()

    // A consumer that took job-1 and died before acknowledging it; then three more jobs.
    await client.xgroup("CREATE", "jobs", "workers", "0", "MKSTREAM")
    await client.xadd("jobs", "*", "job_id", "job-1", "work_ms", "50")
    await client.xreadgroup("GROUP", "workers", "ghost", "COUNT", "1", "STREAMS", "jobs", ">")
    for (const n of [2, 3, 4]) await client.xadd("jobs", "*", "job_id", `job-${n}`, "work_ms", "50")

    const events: Array<ConsumerEvent> = []
    startConsumer(redis, worker.controlUrl, events)
    // The consumer's second look at the sessions waits for a change: it has read the first answer (none), and knows it is
    // not reserved.
    await waitUntil("the consumer's long poll", async () => (await longPollsWaiting(worker.controlUrl)) >= 1)
    await waitUntil("the waiting event", () => events.length > 0)
    expect(await client.hlen("jobs:results")).toBe(0)
    expect(events.map((event) => event.event)).toEqual(["waiting"])

    // Reserved: it works through the queue, re-claiming the dead consumer's job once it has been idle 1 s.
    const first = await worker.create()
    await waitUntil("four results", async () => (await client.hlen("jobs:results")) === 4)
    expect(await client.hgetall("jobs:completions")).toEqual({ "job-1": "1", "job-2": "1", "job-3": "1", "job-4": "1" })
    expect(JSON.parse((await client.hget("jobs:results", "job-1")) ?? "{}")).toEqual({ job: "job-1", reclaimed: true })
    expect(await client.xpending("jobs", "workers")).toEqual([0, null, null, null])

    // Idle for its grace, unprotected: it releases its own session, by its id.
    await waitUntil("the release", async () => (await worker.sessions()).sessions.length === 0)
    expect(events.find((event) => event.event === "released")).toMatchObject({ session_id: first.sessionId, generation: first.generation, outcome: "released" })

    // Protected by the keep lease: it holds on while the lease lasts, and lets go after it lapses.
    const second = await worker.create()
    await client.sadd("jobs:autoscale:keep", second.sessionId)
    await waitUntil("the keep said", () => events.some((event) => event.event === "kept" && event.session_id === second.sessionId))
    expect((await worker.sessions()).sessions.map((session) => session.session_id)).toEqual([second.sessionId])
    expect(events.filter((event) => event.event === "kept")).toHaveLength(1)
    await client.del("jobs:autoscale:keep")
    await waitUntil("the release after the lease", async () => (await worker.sessions()).sessions.length === 0, 5_000)
    // Said once for its idle spell, however many looks at the lease kept it.
    expect(events.filter((event) => event.event === "kept")).toHaveLength(1)

    // A late release for an old generation is fenced off: the new session stays open.
    const third = await worker.create()
    const late = await post(`${worker.controlUrl}/release`, { generation: first.generation })
    expect(late.status).toBe(409)
    expect((await worker.sessions()).sessions.map((session) => session.session_id)).toEqual([third.sessionId])

    // Draining: the job in hand is finished and stored, no new one is taken.
    await client.xadd("jobs", "*", "job_id", "job-5", "work_ms", "1500")
    await waitUntil("job-5 started", () => events.some((event) => event.event === "job-started" && event.job === "job-5"))
    worker.worker.child.kill("SIGTERM")
    await client.xadd("jobs", "*", "job_id", "job-6", "work_ms", "50")
    await waitUntil("draining seen", () => events.some((event) => event.event === "draining"))
    expect(await client.hexists("jobs:results", "job-5")).toBe(1)
    // Until the worker has drained (its session closed at DRAIN_TIMEOUT) and exited, the consumer could still take job-6.
    expect(await worker.worker.exited).toBe(0)
    expect(events.some((event) => event.event === "job-started" && event.job === "job-6")).toBe(false)
    expect(await client.hexists("jobs:results", "job-6")).toBe(0)
    const [group] = decodeGroups(await client.xinfo("GROUPS", "jobs"))
    expect(group?.[(group?.indexOf("lag") ?? 0) + 1]).toBe(1)
  })
})
