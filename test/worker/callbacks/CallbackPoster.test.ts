import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, type Duration, Effect, Exit, Fiber, Layer, Logger, LogLevel, Option, Random, Ref, Scope, TestClock } from "effect"
import { callbackBody, callbackText, NO_PAYLOAD } from "../../../src/protocol/callback.js"
import { LoadMetrics } from "../../../src/worker/autoscaler/LoadMetrics.js"
import { CallbackPoster, type CloseCallback, type DeliveryPolicy, defaultPolicy, EXIT_LINES_WHEN_JOURNALLED, isRetryableStatus } from "../../../src/worker/callbacks/CallbackPoster.js"
import { type JournalDisk, nodeJournalDisk } from "../../../src/worker/callbacks/journal/journalDisk.js"
import { openJournal } from "../../../src/worker/callbacks/journal/OutboxJournal.js"
import { interfaceAddresses, SELF_TARGET_REFUSED, selfAddresses, selfAddressesOf, targetsSelf } from "../../../src/worker/callbacks/selfTarget.js"
import type { WorkerSettings } from "../../../src/worker/config/WorkerConfig.js"
import { WorkerMetrics } from "../../../src/worker/metrics/WorkerMetrics.js"
import { SlotPool } from "../../../src/worker/slots/SlotPool.js"
import { advanceUntilDone } from "../../support/clock.js"
import { descriptorsOn } from "../../support/descriptors.js"
import { fillableDisk } from "../../support/fullDisk.js"
import { otherWorkersLock } from "../../support/processStart.js"
import { type Answer, routedClient, type SeenRequest, scriptedClient } from "../../support/fakeHttpClient.js"
import { quietLogs, testConfig } from "../../support/layers.js"
import { capturedLogs } from "../../support/logs.js"
import { sample } from "../../support/metrics.js"
import { authData } from "../../support/sessions.js"

const facts = { sessionId: "aB3dE5fG7hJ9k", reason: "ended", generation: 3, expiredBy: null } as const
const callback: CloseCallback = {
  sessionId: "aB3dE5fG7hJ9k",
  generation: 3,
  route: "http://127.0.0.1:9/closed",
  body: callbackText({ job_id: "j-1" }, facts),
  reason: "ended"
}

/** A poster over a client, built in `scope`, with the requests it made. */
interface FakeClient {
  readonly layer: Layer.Layer<HttpClient.HttpClient>
  readonly seen: Ref.Ref<ReadonlyArray<SeenRequest>>
}

// Under TestClock a drain would wait for time nobody moves: tests that close with work pending drain in 0 ms,
// unless they give a policy of their own (`{}`: the default one). The retries' jitter draws `random`'s values in turn:
// 0.5 by default, the middle, so each wait is exactly 1, 2, 4 … s.
const posterOver = (
  client: Effect.Effect<FakeClient>,
  scope: Scope.Scope,
  settings: Partial<WorkerSettings> = {},
  policy: Partial<DeliveryPolicy> = { drainTimeout: "0 millis" },
  random: Random.Random = Random.fixed([0.5]),
  logs: Layer.Layer<never> = quietLogs,
  metrics: Layer.Layer<WorkerMetrics> = WorkerMetrics.Default
) =>
  Effect.gen(function* () {
    const { layer, seen } = yield* client
    const context = yield* Layer.buildWithScope(
      CallbackPoster.layerWith(policy, metrics).pipe(Layer.provide(layer), Layer.provide(testConfig(settings)), Layer.provide(logs)),
      scope
    ).pipe(Effect.withRandom(random))
    return { poster: Context.get(context, CallbackPoster), seen }
  })

const posterWith = (script: ReadonlyArray<Answer>, scope: Scope.Scope, settings: Partial<WorkerSettings> = {}, drainTimeout: Duration.DurationInput = "0 millis") =>
  posterOver(scriptedClient(script), scope, settings, { drainTimeout })

/** `callback`, then another to the same route, with one slot: the first fails with `lastError` after one attempt, the second is delivered, and nothing is left. */
const firstFailsSecondGoesOut = (poster: CallbackPoster, seen: Ref.Ref<ReadonlyArray<SeenRequest>>, lastError: string) =>
  Effect.gen(function* () {
    yield* poster.post(callback)
    yield* poster.post({ ...callback, sessionId: "after" })
    yield* TestClock.adjust("1 minute")
    assert.lengthOf(yield* Ref.get(seen), 2)
    const records = yield* poster.deliveries
    assert.deepStrictEqual(
      records.map((entry) => [entry.sessionId, entry.state, entry.attempts, entry.lastError]),
      [
        [callback.sessionId, "failed", 1, lastError],
        ["after", "delivered", 1, null]
      ]
    )
    const stats = yield* poster.stats
    assert.deepStrictEqual([stats.pending, stats.inFlight, stats.failed, stats.delivered], [0, 0, 1, 1])
  })

/** A Random whose draw dies: a bug in a retry's back-off. */
const dyingRandom = (): Random.Random => {
  const dying: Random.Random = Object.create(Random.fixed([0.5]))
  Object.defineProperty(dying, "next", { get: () => Effect.die(new Error("a bug in the back-off")) })
  return dying
}

const attemptTimes = (seen: Ref.Ref<ReadonlyArray<SeenRequest>>) => Effect.map(Ref.get(seen), (all) => all.map((request) => request.at))

describe("callbackBody", () => {
  it("copies an object payload and adds session_id, close_reason and generation", () => {
    const payload = { job_id: "j-1" }
    assert.deepStrictEqual(callbackBody(payload, { ...facts, reason: "released" }), { job_id: "j-1", session_id: facts.sessionId, close_reason: "released", generation: 3 })
    assert.deepStrictEqual(payload, { job_id: "j-1" })
  })
  it("keeps a session_id, close_reason or generation the user put in the payload", () => {
    assert.deepStrictEqual(callbackBody({ session_id: "mine", close_reason: "x", generation: "g" }, facts), { session_id: "mine", close_reason: "x", generation: "g" })
  })
  it("an expiry says which limit ended it", () => {
    assert.strictEqual(callbackBody(null, { ...facts, reason: "expired", expiredBy: "cap" })["expired_by"], "cap")
  })
  it("sends {} for no payload and wraps any other JSON value", () => {
    const base = { session_id: facts.sessionId, close_reason: "ended", generation: 3 }
    assert.deepStrictEqual(callbackBody(null, facts), base)
    assert.deepStrictEqual(callbackBody("done", facts), { payload: "done", ...base })
    assert.deepStrictEqual(callbackBody([1, 2], facts), { payload: [1, 2], ...base })
    assert.deepStrictEqual(callbackBody(0, facts), { payload: 0, ...base })
  })
  it("sends every key of the payload as it was parsed, `__proto__` included; a value JSON cannot write throws", () => {
    const payload: unknown = JSON.parse('{"__proto__":{"polluted":1},"k":1}')
    assert.deepStrictEqual(JSON.parse(callbackText(payload, facts)), JSON.parse(`{"__proto__":{"polluted":1},"k":1,"session_id":"${facts.sessionId}","close_reason":"ended","generation":3}`))
    assert.isTrue(Object.hasOwn(JSON.parse(callbackText(payload, facts)) as object, "__proto__"))
    assert.throws(() => callbackText({ big: 1n }, facts))
  })
})

describe("targetsSelf", () => {
  const self = selfAddresses({ publicIp: "203.0.113.7", ports: [3000, 3001, 18999, 41234] })
  it.each([
    ["http://127.0.0.1:18999/release", true],
    ["http://localhost:3000/session/end", true],
    ["http://[::1]:3001/", true],
    ["http://0.0.0.0:3000/", true],
    ["http://127.1.2.3:18999/", true],
    ["http://2130706433:18999/", true],
    ["http://[::ffff:127.0.0.1]:18999/", true],
    ["http://203.0.113.7:41234/", true],
    // The public address mapped into IPv6 (URLs write it `[::ffff:cb00:7107]`) is this machine; addresses that only
    // contain that form are not.
    ["http://[::ffff:203.0.113.7]:41234/", true],
    ["http://[1::ffff:cb00:7107]:41234/", false],
    ["http://[::ffff:cb00:7107:1]:41234/", false],
    ["http://127.0.0.1:9090/health", false],
    ["https://cb.example/notify", false],
    ["http://203.0.113.8:3000/", false],
    ["http://worker.localhost:3000/", true],
    ["http://[::]:3001/", true],
    ["http://127.0.0.1.example:3000/", false],
    ["not a url", false]
  ])("%s → %s", (url, expected) => {
    assert.strictEqual(targetsSelf(url, self), expected)
  })

  it("a URL without a port means 80 for http and 443 for https", () => {
    const web = selfAddresses({ publicIp: "203.0.113.7", ports: [443] })
    assert.isTrue(targetsSelf("https://203.0.113.7/notify", web))
    assert.isFalse(targetsSelf("http://203.0.113.7/notify", web))
    assert.isTrue(targetsSelf("http://203.0.113.7/notify", selfAddresses({ publicIp: "203.0.113.7", ports: [80] })))
  })

  it("an address this machine gained after the start is this machine too, on the worker's ports only (probe 52 L2)", () => {
    const added: Array<string> = []
    const self = { ...selfAddresses({ publicIp: "203.0.113.7", ports: [3000] }), current: () => [...interfaceAddresses(), ...added] }
    assert.isFalse(targetsSelf("http://198.51.100.77:3000/session/create", self))
    added.push("198.51.100.77", "2001:db8::77")
    assert.isTrue(targetsSelf("http://198.51.100.77:3000/session/create", self))
    assert.isTrue(targetsSelf("http://[2001:db8::77]:3000/", self))
    assert.isFalse(targetsSelf("http://198.51.100.77:9090/", self))
    // The worker's own reader of them: this machine's interfaces as they are.
    assert.include(selfAddresses({ publicIp: "203.0.113.7", ports: [3000] }).current?.() ?? [], "127.0.0.1")
  })

  it("a public IPv6 address written in capitals or brackets is this machine too", () => {
    for (const publicIp of ["2001:DB8::7", "[2001:db8::7]"]) {
      assert.isTrue(targetsSelf("http://[2001:db8::7]:3000/", selfAddresses({ publicIp, ports: [3000] })), publicIp)
    }
  })
})

describe("selfAddressesOf", () => {
  const settings = { workerPort: 3000, workerHttpPort: 3001, controlPort: 18999 }
  it("the worker's three ports, and the reported URL's port (its scheme's default when the URL names none)", () => {
    const self = (workerUrl: string) => [...selfAddressesOf({ ...settings, workerUrl }).ports].sort((a, b) => a - b)
    assert.deepStrictEqual(self("http://203.0.113.7:41234"), [3000, 3001, 18999, 41234])
    assert.deepStrictEqual(self("https://203.0.113.7"), [443, 3000, 3001, 18999])
    assert.deepStrictEqual(self("http://203.0.113.7"), [80, 3000, 3001, 18999])
    assert.isTrue(selfAddressesOf({ ...settings, workerUrl: "https://203.0.113.7" }).hosts.has("203.0.113.7"))
  })
})

describe("CallbackPoster", () => {
  it.scoped("delivers the body as JSON and records the delivery", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([204], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      const [request] = yield* Ref.get(seen)
      assert.deepStrictEqual(request?.body, { job_id: "j-1", session_id: callback.sessionId, close_reason: "ended", generation: 3 })
      assert.strictEqual(request?.url, callback.route)
      const [record] = yield* poster.deliveries
      assert.deepStrictEqual([record?.state, record?.attempts, record?.lastStatus], ["delivered", 1, 204])
      assert.strictEqual((yield* poster.stats).delivered, 1)
    })
  )

  it.scoped("retries 5xx, 429 and network errors on the schedule 1, 2, 4, 8, 16 s, then gives up", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([503, 429, "network-error", 500], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0])
      yield* TestClock.adjust("999 millis")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000])
      yield* TestClock.adjust("60 seconds")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000, 3000, 7000, 15000, 31000])
      const [record] = yield* poster.deliveries
      assert.deepStrictEqual([record?.state, record?.attempts, record?.lastStatus], ["failed", 1 + defaultPolicy.retries, 500])
      assert.strictEqual((yield* poster.stats).failed, 1)
    })
  )

  it.scoped("each wait is spread by up to a fifth either way, from Effect's Random: callbacks that failed together do not retry together", () =>
    Effect.gen(function* () {
      // The lowest draw (0), the highest (1), then a quarter and three quarters of the way.
      const { poster, seen } = yield* posterOver(scriptedClient([503, 503, 503, 503, 503, 503]), yield* Effect.scope, {}, { drainTimeout: "0 millis" }, Random.fixed([0, 1, 0.25, 0.75, 0.5]))
      yield* poster.post(callback)
      yield* TestClock.adjust("60 seconds")
      // Waits of 0.8 s, 2.4 s, 3.6 s, 8.8 s and 16 s after each attempt.
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 800, 3200, 6800, 15600, 31600])
    })
  )

  it.scoped("a 429 or 503 with Retry-After is not retried sooner than it asks (seconds or a date), at most 60 s later; on other statuses, or unreadable, it is ignored", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith(
        [
          { status: 503, retryAfter: "5" },
          { status: 429, retryAfter: "Thu, 01 Jan 1970 00:00:13 GMT" },
          { status: 429, retryAfter: "3600" },
          { status: 500, retryAfter: "30" },
          { status: 503, retryAfter: "soon" },
          200
        ],
        yield* Effect.scope
      )
      yield* poster.post(callback)
      yield* TestClock.adjust("3 minutes")
      // 5 s asked; at 5 s the date asks for 13 s (8 s more); an hour is held to 60 s; a 500's header is not read (8 s,
      // the schedule's); "soon" is no wait (16 s, the schedule's).
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 5000, 13000, 73000, 81000, 97000])
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivered")
    })
  )

  it.scoped("a target that recovers gets the callback on the retry", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([502, 200], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000])
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivered")
    })
  )

  it("which answers are tried again: 3xx (not followed), 429, 5xx, and a status outside 100–599 (a broken answer, `000`); not another 4xx, nor a 101 (the connection taken for another protocol)", () => {
    const retried = [0, 1, 99, 300, 302, 429, 500, 503, 599, 600, 999]
    // (A 2xx is delivered before this is asked; it is no broken answer either.)
    const final = [101, 200, 204, 299, 400, 401, 404, 410, 422, 451, 499]
    assert.deepStrictEqual(retried.filter((status) => !isRetryableStatus(status)), [])
    assert.deepStrictEqual(final.filter(isRetryableStatus), [])
  })

  it.scoped.each([400, 404, 410, 422])("gives up at once on a %d (a 4xx other than 429): failed, not delivered", (status) =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([status], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("60 seconds")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0])
      const [record] = yield* poster.deliveries
      assert.deepStrictEqual([record?.state, record?.lastStatus], ["failed", status])
      assert.strictEqual((yield* poster.stats).delivered, 0)
    })
  )

  it.scoped("follows a 307 and a 308 with the same method and body, from http to https too", () =>
    Effect.gen(function* () {
      const { layer, seen } = yield* routedClient((url) =>
        url.endsWith("/closed") ? { status: 307, location: "/moved" } : url.endsWith("/moved") ? { status: 308, location: "https://127.0.0.1:9/final" } : 200
      )
      const { poster } = yield* posterOver(Effect.succeed({ layer, seen }), yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      const requests = yield* Ref.get(seen)
      assert.deepStrictEqual(requests.map((request) => request.url), ["http://127.0.0.1:9/closed", "http://127.0.0.1:9/moved", "https://127.0.0.1:9/final"])
      assert.deepStrictEqual(requests.map((request) => request.body), requests.map(() => JSON.parse(callback.body)))
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivered")
    })
  )

  it.scoped("a redirect loop is a failure that is retried, never a delivery", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([{ status: 307, location: "/closed" }], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      // One attempt: the first request and three hops.
      assert.lengthOf(yield* Ref.get(seen), 4)
      const [record] = yield* poster.deliveries
      assert.strictEqual(record?.state, "retrying")
      assert.match(record?.lastError ?? "", /redirects/)
    })
  )

  /** One callback posted over `script`, a minute later: how many requests went out, how it ended, what is still open. */
  const oneCallbackOver = (script: ReadonlyArray<Answer>) =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith(script, yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("1 minute")
      const [record] = yield* poster.deliveries
      const stats = yield* poster.stats
      return { requests: (yield* Ref.get(seen)).length, ended: [record?.state, record?.attempts, record?.lastError], open: [stats.pending, stats.inFlight] }
    })

  it.scoped("a redirect elsewhere than http(s) is final after one attempt, and nothing is requested there", () =>
    Effect.gen(function* () {
      const { ended, open, requests } = yield* oneCallbackOver([{ status: 307, location: "data:,x" }])
      assert.strictEqual(requests, 1)
      assert.deepStrictEqual(ended, ["failed", 1, "status 307: redirect to a data: URL"])
      assert.deepStrictEqual(open, [0, 0])
    })
  )

  it.scoped("a connection the client refused because it leads to the worker itself is final, and so is one the system cannot make (EINVAL, probe 53 I3); other transport errors are retried", () =>
    Effect.gen(function* () {
      const { ended, requests } = yield* oneCallbackOver([{ errno: SELF_TARGET_REFUSED }, 200])
      assert.strictEqual(requests, 1)
      assert.deepStrictEqual(ended, ["failed", 1, "refused: the destination is one of this worker's own ports"])
      const invalid = yield* oneCallbackOver([{ errno: "EINVAL" }, 200])
      assert.strictEqual(invalid.requests, 1)
      assert.deepStrictEqual(invalid.ended, ["failed", 1, "EINVAL: the system cannot connect to that destination"])
      const retried = yield* posterWith([{ errno: "EHOSTUNREACH" }, 200], yield* Effect.scope)
      yield* retried.poster.post(callback)
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual((yield* retried.poster.deliveries).map((entry) => [entry.state, entry.attempts]), [["delivered", 2]])
    })
  )

  it.scoped("a client that throws fails that delivery at once: it is neither retried nor left pending, and the outbox goes on", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith(["defect", 200], yield* Effect.scope, { callbackConcurrency: 1 })
      yield* firstFailsSecondGoesOut(poster, seen, "the request could not be made")
    })
  )

  it.scoped("a defect outside the attempt (the back-off's draw) fails that delivery: it is not left pending, nor are the callbacks parked behind it (review 56 I4)", () =>
    Effect.gen(function* () {
      // The first delivery's retry needs a draw, which dies.
      const { poster, seen } = yield* posterOver(scriptedClient([503, 200]), yield* Effect.scope, { callbackConcurrency: 1 }, { drainTimeout: "0 millis" }, dyingRandom())
      yield* firstFailsSecondGoesOut(poster, seen, "crashed: Error: a bug in the back-off")
    })
  )

  it.scoped("a crash while giving a crashed delivery up (here its log line) still hands its slot on to the callbacks parked behind it (review 57 I8)", () =>
    Effect.gen(function* () {
      const throwingLogs = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => {
          if (String(message).includes("given up")) throw new Error("a bug in the logger")
        })
      )
      const { poster, seen } = yield* posterOver(scriptedClient([503, 200]), yield* Effect.scope, { callbackConcurrency: 2 }, { drainTimeout: "0 millis" }, dyingRandom(), throwingLogs)
      yield* poster.post(callback)
      // Two slots, one kept for other destinations: the second callback to the same route is parked behind the first.
      yield* poster.post({ ...callback, sessionId: "after" })
      yield* TestClock.adjust("1 minute")
      assert.lengthOf(yield* Ref.get(seen), 2)
      const stats = yield* poster.stats
      assert.deepStrictEqual([stats.pending, stats.inFlight, stats.delivered], [0, 0, 1])
    })
  )

  it.scoped("a crash in a give-up's bookkeeping (here its metric) leaves nothing pending: the stop's wait is not held by it (review 58 I9)", () =>
    Effect.gen(function* () {
      const throwingMetrics = Layer.effect(
        WorkerMetrics,
        Effect.map(WorkerMetrics, (real) =>
          WorkerMetrics.make({
            ...real,
            delivery: (outcome) => {
              if (outcome === "failed") throw new Error("a bug in the metrics")
              real.delivery(outcome)
            }
          })
        )
      ).pipe(Layer.provide(WorkerMetrics.Default))
      const { poster, seen } = yield* posterOver(scriptedClient([400]), yield* Effect.scope, { callbackConcurrency: 1 }, { drainTimeout: "1 minute" }, Random.fixed([0.5]), quietLogs, throwingMetrics)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      assert.lengthOf(yield* Ref.get(seen), 1)
      const stats = yield* poster.stats
      assert.deepStrictEqual([stats.pending, stats.inFlight], [0, 0])
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "failed")
    })
  )

  it.scoped.each([301, 302, 303])("a %d is not followed and not delivered: it is retried like a 5xx", (status) =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([{ status, location: "/elsewhere" }, 200], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      assert.lengthOf(yield* Ref.get(seen), 1)
      assert.strictEqual((yield* poster.deliveries)[0]?.lastStatus, status)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivered")
    })
  )

  it.scoped("an attempt that hangs times out after 10 s and is retried", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith(["hang", 200], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0])
      assert.strictEqual((yield* poster.deliveries)[0]?.lastError, "timed out")
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 11000])
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivered")
    })
  )

  it.scoped("at most CALLBACK_CONCURRENCY deliveries are in flight; the rest wait their turn", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith(["hang"], yield* Effect.scope, { callbackConcurrency: 3 })
      for (let i = 0; i < 10; i++) yield* poster.post({ ...callback, sessionId: `s${i}`, route: `http://cb${i}.test/done` })
      yield* TestClock.adjust("0 millis")
      assert.lengthOf(yield* Ref.get(seen), 3)
      const stats = yield* poster.stats
      assert.deepStrictEqual([stats.pending, stats.inFlight], [10, 3])
    })
  )

  it.scoped("one destination takes all but a quarter of CALLBACK_CONCURRENCY at most: a hung receiver leaves the rest to everyone else", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterOver(
        routedClient((url) => (url.startsWith("http://hung.test") ? "hang" : 200)),
        yield* Effect.scope,
        { callbackConcurrency: 16 }
      )
      for (let i = 0; i < 20; i++) yield* poster.post({ ...callback, sessionId: `h${i}`, route: `http://hung.test/cb/${i}` })
      yield* poster.post({ ...callback, sessionId: "good", route: "http://good.test/cb" })
      yield* TestClock.adjust("0 millis")
      const urls = (yield* Ref.get(seen)).map((request) => request.url)
      assert.deepStrictEqual(urls, [...Array.from({ length: 12 }, (_, i) => `http://hung.test/cb/${i}`), "http://good.test/cb"])
      assert.strictEqual((yield* poster.stats).inFlight, 12)
      assert.strictEqual((yield* poster.deliveries).find((record) => record.sessionId === "good")?.state, "delivered")
      // Same scheme, host and port is one destination, whatever the path; another port is another.
      yield* poster.post({ ...callback, sessionId: "other-port", route: "http://hung.test:8080/cb" })
      yield* TestClock.adjust("0 millis")
      assert.strictEqual((yield* Ref.get(seen)).at(-1)?.url, "http://hung.test:8080/cb")
      // When the hung attempts time out, the parked deliveries to that destination get their turn, in their order.
      yield* TestClock.adjust(defaultPolicy.attemptTimeout)
      const hung = (yield* Ref.get(seen)).filter((request) => request.url.startsWith("http://hung.test/"))
      assert.deepStrictEqual(hung.map((request) => request.url).slice(12), Array.from({ length: 8 }, (_, i) => `http://hung.test/cb/${12 + i}`))
    })
  )

  it.scoped("a destination's count of attempts in flight goes down by one when one of them ends: its cap still holds while the others run", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterOver(
        routedClient((url) => (url.endsWith("/fast") || url.startsWith("http://good.test") ? 200 : "hang")),
        yield* Effect.scope,
        { callbackConcurrency: 4 }
      )
      // Three of four slots may go to one destination: one answers at once, two hang.
      for (const path of ["fast", "h1", "h2"]) yield* poster.post({ ...callback, sessionId: `mixed-${path}`, route: `http://mixed.test/${path}` })
      yield* TestClock.adjust("0 millis")
      yield* poster.post({ ...callback, sessionId: "other", route: "http://other.test/h" })
      yield* TestClock.adjust("0 millis")
      // Two of mixed.test's are still in flight, three slots in all: its next one waits for them.
      yield* poster.post({ ...callback, sessionId: "mixed-h3", route: "http://mixed.test/h3" })
      yield* poster.post({ ...callback, sessionId: "good", route: "http://good.test/cb" })
      yield* TestClock.adjust("0 millis")
      const urls = (yield* Ref.get(seen)).map((request) => request.url)
      assert.notInclude(urls, "http://mixed.test/h3")
      assert.strictEqual((yield* poster.deliveries).find((record) => record.sessionId === "good")?.state, "delivered")
    })
  )

  it.scoped("a destination whose attempts have all ended has nothing in flight again: it may take the last quarter", () =>
    Effect.gen(function* () {
      const { poster } = yield* posterOver(
        routedClient((url) => (url.startsWith("http://hung.test") ? "hang" : 200)),
        yield* Effect.scope,
        { callbackConcurrency: 4 }
      )
      yield* poster.post({ ...callback, sessionId: "first", route: "http://good.test/cb" })
      yield* TestClock.adjust("0 millis")
      for (let i = 0; i < 5; i++) yield* poster.post({ ...callback, sessionId: `h${i}`, route: `http://hung.test/cb/${i}` })
      yield* TestClock.adjust("0 millis")
      yield* poster.post({ ...callback, sessionId: "second", route: "http://good.test/cb" })
      yield* TestClock.adjust("0 millis")
      assert.strictEqual((yield* poster.deliveries).find((record) => record.sessionId === "second")?.state, "delivered")
    })
  )

  it.scoped("two or more hung receivers leave every other destination a slot: the last quarter goes only to destinations with nothing in flight", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterOver(
        routedClient((url) => (url.includes("hung") ? "hang" : 200)),
        yield* Effect.scope,
        { callbackConcurrency: 16 }
      )
      for (const host of ["hung-a.test", "hung-b.test", "hung-c.test"]) {
        for (let i = 0; i < 20; i++) yield* poster.post({ ...callback, sessionId: `${host}-${i}`, route: `http://${host}/cb/${i}` })
      }
      yield* poster.post({ ...callback, sessionId: "good", route: "http://good.test/cb" })
      yield* TestClock.adjust("0 millis")
      const byHost = (yield* Ref.get(seen)).reduce<Record<string, number>>((counts, request) => {
        const host = new URL(request.url).host
        return { ...counts, [host]: (counts[host] ?? 0) + 1 }
      }, {})
      assert.deepStrictEqual(byHost, { "hung-a.test": 12, "hung-b.test": 1, "hung-c.test": 1, "good.test": 1 })
      assert.strictEqual((yield* poster.deliveries).find((record) => record.sessionId === "good")?.state, "delivered")
    })
  )

  it.scoped("a delivery waiting to be retried holds no slot: with one slot, a refused target's back-off does not keep the next callback waiting", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterOver(
        routedClient((url) => (url.startsWith("http://down.test") ? "network-error" : 200)),
        yield* Effect.scope,
        { callbackConcurrency: 1 }
      )
      yield* poster.post({ ...callback, sessionId: "down", route: "http://down.test/cb" })
      yield* poster.post({ ...callback, sessionId: "up", route: "http://up.test/cb" })
      yield* TestClock.adjust("0 millis")
      assert.deepStrictEqual((yield* Ref.get(seen)).map((request) => [request.url, request.at]), [["http://down.test/cb", 0], ["http://up.test/cb", 0]])
      const records = yield* poster.deliveries
      assert.deepStrictEqual(records.map((record) => [record.sessionId, record.state, record.attempts]), [["up", "delivered", 1], ["down", "retrying", 1]])
      assert.strictEqual((yield* poster.stats).inFlight, 0)
      // The refused one is tried again after its back-off, as before.
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 0, 1000])
    })
  )

  it.scoped("a delivery whose back-off is over waits for a slot as queued, with no next attempt time (review 35 L1)", () =>
    Effect.gen(function* () {
      let downAnswers = 0
      const { poster } = yield* posterOver(
        routedClient((url) => (url.startsWith("http://down.test") ? (downAnswers++ === 0 ? "network-error" : 200) : "hang")),
        yield* Effect.scope,
        { callbackConcurrency: 1 },
        { drainTimeout: "0 millis", attemptTimeout: "5 seconds" }
      )
      yield* poster.post({ ...callback, sessionId: "down", route: "http://down.test/cb" })
      yield* TestClock.adjust("0 millis")
      yield* poster.post({ ...callback, sessionId: "hung", route: "http://hung.test/cb" })
      yield* TestClock.adjust("0 millis")
      const states = Effect.map(poster.deliveries, (records) => records.map((record) => [record.sessionId, record.state, record.nextAttemptAt]))
      assert.deepStrictEqual(yield* states, [["down", "retrying", 1000], ["hung", "delivering", null]])
      // Its back-off is over while the one slot still waits on the hung receiver.
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* states, [["down", "queued", null], ["hung", "delivering", null]])
      yield* TestClock.adjust("4 seconds")
      const records = yield* poster.deliveries
      assert.deepStrictEqual(records.find((record) => record.sessionId === "down")?.state, "delivered")
    })
  )

  it.scoped("a route that is not a URL (a damaged journal's) fails at once, not after six attempts", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([{ errno: "ERR_INVALID_URL" }], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      assert.lengthOf(yield* Ref.get(seen), 1)
      const [record] = yield* poster.deliveries
      assert.deepStrictEqual([record?.state, record?.attempts, record?.lastError], ["failed", 1, "the route is not a URL"])
    })
  )

  it.scoped("admission: room is counted against CALLBACK_MAX_PENDING, and the bodies' and routes' text against CALLBACK_MAX_PENDING_BYTES (probe 50 L1)", () =>
    Effect.gen(function* () {
      const { poster } = yield* posterWith(["hang"], yield* Effect.scope, { callbackMaxPending: 2 })
      assert.isNull(poster.unsafeFullness(2, 0))
      yield* poster.post(callback)
      assert.isNull(poster.unsafeFullness(1, 0))
      assert.strictEqual(poster.unsafeFullness(2, 0), "2 callbacks")

      const limit = (callback.body.length + callback.route.length) + 10
      const sized = (yield* posterWith(["hang", "hang"], yield* Effect.scope, { callbackMaxPendingBytes: limit })).poster
      assert.isNull(sized.unsafeFullness(1, limit))
      assert.strictEqual(sized.unsafeFullness(1, limit + 1), `${limit} characters of callbacks`)
      yield* sized.post(callback)
      assert.isNull(sized.unsafeFullness(1, 10))
      assert.strictEqual(sized.unsafeFullness(1, 11), `${limit} characters of callbacks`)
    })
  )

  it.scoped("a delivery that ends gives its text back to CALLBACK_MAX_PENDING_BYTES", () =>
    Effect.gen(function* () {
      const { poster } = yield* posterWith([200], yield* Effect.scope, { callbackMaxPendingBytes: (callback.body.length + callback.route.length) })
      yield* poster.post(callback)
      assert.strictEqual(poster.unsafeFullness(1, 1), `${(callback.body.length + callback.route.length)} characters of callbacks`)
      yield* TestClock.adjust("0 millis")
      yield* poster.drain("1 second")
      assert.isNull(poster.unsafeFullness(1, (callback.body.length + callback.route.length)))
    })
  )

  it.scoped(`only the last ${defaultPolicy.history} finished deliveries are kept for /debug`, () =>
    Effect.gen(function* () {
      const { poster } = yield* posterWith([200], yield* Effect.scope)
      for (let i = 0; i < defaultPolicy.history + 20; i++) yield* poster.post({ ...callback, sessionId: `s${i}` })
      yield* TestClock.adjust("0 millis")
      const deliveries = yield* poster.deliveries
      assert.lengthOf(deliveries, defaultPolicy.history)
      assert.strictEqual(deliveries[0]?.sessionId, "s20")
    })
  )

  it.scoped("/debug records show the route without credentials or query string", () =>
    Effect.gen(function* () {
      const { poster } = yield* posterWith(["hang"], yield* Effect.scope)
      yield* poster.post({ ...callback, route: "https://user:pw@cb.example/x?api_key=k" })
      assert.strictEqual((yield* poster.deliveries)[0]?.route, "https://cb.example/x?…")
    })
  )

  it.effect("shutdown waits (bounded) for pending deliveries", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { poster, seen } = yield* posterWith([503, 200], scope, {}, "5 seconds")
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      yield* advanceUntilDone(yield* Effect.fork(Scope.close(scope, Exit.void)))
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000])
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivered")
    })
  )

  it.effect("a failing callback target never keeps the slot busy, and shutdown stops the hung delivery after the drain time", () =>
    Effect.gen(function* () {
      const { layer, seen } = yield* scriptedClient(["hang"])
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        SlotPool.DefaultWithoutDependencies.pipe(
          Layer.provideMerge(CallbackPoster.layerWith({ drainTimeout: "5 seconds" })),
          Layer.provideMerge(Layer.merge(LoadMetrics.Default, WorkerMetrics.Default)),
          Layer.provide(layer),
          Layer.provideMerge(testConfig()),
          Layer.provide(quietLogs)
        ),
        scope
      )
      const pool = Context.get(context, SlotPool)
      const poster = Context.get(context, CallbackPoster)
      const first = yield* pool.create({
        authData: authData(),
        cost: 100,
        requestIdx: 1,
        lifetimeMs: 60_000,
        onCloseRoute: "http://127.0.0.1:9/closed",
        onClosePayload: NO_PAYLOAD
      })
      yield* pool.end(first.sessionId, authData())
      yield* TestClock.adjust("0 millis")
      assert.lengthOf(yield* Ref.get(seen), 1)
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivering")
      assert.deepStrictEqual((yield* pool.slots).map((slot) => slot.state), ["idle"])
      const started = yield* TestClock.currentTimeMillis
      yield* advanceUntilDone(yield* Effect.fork(Scope.close(scope, Exit.void)))
      assert.strictEqual((yield* TestClock.currentTimeMillis) - started, 5000)
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivering")
    })
  )

  it.scoped("a 300 and a 399 are not deliveries: they are retried like a 5xx, and the 2xx after them is delivered", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([300, 399, 200], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      assert.deepStrictEqual([(yield* poster.deliveries)[0]?.state, (yield* poster.deliveries)[0]?.lastStatus], ["retrying", 300])
      yield* TestClock.adjust("3 seconds")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000, 3000])
      assert.deepStrictEqual([(yield* poster.deliveries)[0]?.state, (yield* poster.deliveries)[0]?.lastStatus], ["delivered", 200])
    })
  )

  it.scoped("a 307 without a Location is not followed: one request, a failed attempt that is retried", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([307, 200], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      assert.lengthOf(yield* Ref.get(seen), 1)
      assert.deepStrictEqual([(yield* poster.deliveries)[0]?.state, (yield* poster.deliveries)[0]?.lastError], ["retrying", "status 307"])
      // Its next attempt is due after the first back-off (1 s), and shown so.
      assert.strictEqual((yield* poster.deliveries)[0]?.nextAttemptAt, (yield* TestClock.currentTimeMillis) + 1000)
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000])
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivered")
    })
  )

  it.scoped("a 307 whose Location is not a URL is a failed attempt that says so and is retried, not a crash", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([{ status: 307, location: "http://[not-a-host" }, 200], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      assert.lengthOf(yield* Ref.get(seen), 1)
      assert.deepStrictEqual(
        [(yield* poster.deliveries)[0]?.state, (yield* poster.deliveries)[0]?.lastStatus, (yield* poster.deliveries)[0]?.lastError],
        ["retrying", 307, "status 307: redirect to a Location that is not a URL"]
      )
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000])
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivered")
    })
  )

  it.scoped("a network error or a response that fails is a retried attempt, named by its errno or else \"transport error\"", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith(["network-error", 200], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      assert.strictEqual((yield* poster.deliveries)[0]?.lastError, "ECONNREFUSED")
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000])
      const broken = HttpClient.make((request) =>
        Effect.fail(
          new HttpClientError.ResponseError({ request, response: HttpClientResponse.fromWeb(request, new Response(null, { status: 200 })), reason: "Decode", description: "cut short" })
        )
      )
      const context = yield* Layer.build(
        CallbackPoster.layerWith({ drainTimeout: "0 millis" }).pipe(
          Layer.provide(Layer.succeed(HttpClient.HttpClient, broken)),
          Layer.provide(testConfig()),
          Layer.provide(quietLogs)
        )
      )
      const failing = Context.get(context, CallbackPoster)
      yield* failing.post(callback)
      yield* TestClock.adjust("0 millis")
      const [record] = yield* failing.deliveries
      assert.deepStrictEqual([record?.state, record?.lastStatus], ["retrying", null])
      // No errno: a fixed word, never the error's text (which may name the route and its credentials).
      assert.strictEqual(record?.lastError, "transport error")
      // Retried within the first wait's jitter (at most 1.2 s): this poster draws from the default Random.
      yield* TestClock.adjust("1200 millis")
      assert.strictEqual((yield* failing.deliveries)[0]?.attempts, 2)
    })
  )

  describe("logs", () => {
    /** A poster over `script` that logs into `logs` (the other tests keep the outbox quiet). */
    const loggedPoster = (script: ReadonlyArray<Answer>, scope: Scope.Scope, logs: Layer.Layer<never>, settings: Partial<WorkerSettings> = {}) =>
      Effect.gen(function* () {
        const { layer } = yield* scriptedClient(script)
        const context = yield* Layer.buildWithScope(
          CallbackPoster.layerWith({ drainTimeout: "0 millis" }).pipe(Layer.provide(layer), Layer.provide(testConfig(settings)), Layer.provide(logs)),
          scope
        )
        return { poster: Context.get(context, CallbackPoster) }
      })

    it.scoped("a delivered callback is a debug line with its status; one given up is a warning with the attempts and the last reason", () => {
      const logs = capturedLogs(LogLevel.Debug)
      return Effect.gen(function* () {
        const { poster } = yield* loggedPoster([204], yield* Effect.scope, logs.layer)
        yield* poster.post(callback)
        yield* TestClock.adjust("0 millis")
        const failing = yield* loggedPoster([404], yield* Effect.scope, logs.layer)
        yield* failing.poster.post({ ...callback, route: "http://user:pw@127.0.0.1:9/closed?key=k" })
        yield* TestClock.adjust("0 millis")
        const fields = { session_id: callback.sessionId, generation: 3, route: "http://127.0.0.1:9/closed", close_reason: "ended" }
        assert.deepStrictEqual(
          logs.lines.filter((line) => String(line.message[0]).startsWith("on_close")),
          [
            { level: "DEBUG", message: ["on_close callback delivered", { ...fields, status: 204 }] },
            { level: "WARN", message: ["on_close callback given up after 1 attempt(s): status 404", { ...fields, route: "http://127.0.0.1:9/closed?…" }] }
          ]
        )
      }).pipe(Effect.provide(logs.layer))
    })

    it.effect("what is still pending at exit is logged, one warning each, with where it is kept", () => {
      const logs = capturedLogs()
      return Effect.gen(function* () {
        const scope = yield* Scope.make()
        const { poster } = yield* loggedPoster(["hang"], scope, logs.layer)
        yield* poster.post(callback)
        yield* TestClock.adjust("0 millis")
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(logs.lines, [
          {
            level: "WARN",
            message: [
              "on_close callback still pending at exit",
              { session_id: callback.sessionId, generation: 3, route: "http://127.0.0.1:9/closed", close_reason: "ended", attempts: 1, kept_in: "nowhere (set OUTBOX_FILE to keep it)" }
            ]
          }
        ])
      }).pipe(Effect.provide(logs.layer))
    })

    it.effect("callbacks a previous process left pending are announced when they are sent again", () => {
      const logs = capturedLogs()
      return Effect.gen(function* () {
        const file = join(mkdtempSync(join(tmpdir(), "outbox-")), "outbox.jsonl")
        writeFileSync(file, JSON.stringify({ op: "pending", callback: { session_id: "a", generation: 1, route: "http://127.0.0.1:9/a", body: "{}", reason: "ended" } }) + "\n")
        const scope = yield* Scope.make()
        yield* loggedPoster(["hang"], scope, logs.layer, { outboxFile: Option.some(file) })
        yield* TestClock.adjust("0 millis")
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(logs.lines[0], { level: "INFO", message: ["re-sending callbacks a previous process left pending", { count: 1 }] })
        assert.deepStrictEqual(logs.lines[1], {
          level: "WARN",
          message: [
            "on_close callback still pending at exit",
            { session_id: "a", generation: 1, route: "http://127.0.0.1:9/a", close_reason: "ended", attempts: 1, kept_in: file }
          ]
        })
      }).pipe(Effect.provide(logs.layer))
    })
  })

  it.effect("a journal whose link was re-pointed while the worker ran: what is pending at exit is said kept where the journal is, not looked for where the link now leads (probe 54 #3)", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "outbox-"))
      const [target, elsewhere, link] = ["j1", "j2", "outbox.jsonl"].map((name) => join(dir, name)) as [string, string, string]
      writeFileSync(target, JSON.stringify({ op: "pending", callback: { session_id: "a", generation: 1, route: "http://127.0.0.1:9/a", body: "{}", reason: "ended" } }) + "\n")
      writeFileSync(elsewhere, "")
      symlinkSync(target, link)
      const { scope } = yield* posterOnJournal(link, ["hang"], logs)
      yield* TestClock.adjust("0 millis")
      symlinkSync(elsewhere, `${link}.next`)
      renameSync(`${link}.next`, link)
      yield* Scope.close(scope, Exit.void)
      const atExit = logs.lines.filter((line) => line.message[0] === "on_close callback still pending at exit")
      assert.deepStrictEqual(atExit.map((line) => (line.message[1] as { kept_in: string }).kept_in), [realpathSync(target)])
    }).pipe(Effect.provide(logs.layer))
  })

  /**
   * A poster journalling through `current` → `releases/1` with "a" pending (its receiver hangs), then `current` flipped to
   * `releases/2` and `releases/1` deleted, as a deploy does; `now`: where the journal goes.
   */
  const flippedDeployThenDeleted = (logs: ReturnType<typeof capturedLogs>) =>
    Effect.gen(function* () {
      const base = mkdtempSync(join(tmpdir(), "outbox-deploy-"))
      for (const release of ["1", "2"]) mkdirSync(join(base, "releases", release), { recursive: true })
      symlinkSync(join(base, "releases", "1"), join(base, "current"))
      const { poster, scope } = yield* posterOnJournal(join(base, "current", "outbox.jsonl"), ["hang"], logs)
      poster.unsafeEnqueue({ ...callback, sessionId: "a" })
      yield* TestClock.adjust("0 millis")
      symlinkSync(join(base, "releases", "2"), join(base, "current.next"))
      renameSync(join(base, "current.next"), join(base, "current"))
      rmSync(join(base, "releases", "1"), { recursive: true })
      return { poster, scope, now: join(realpathSync(base), "releases", "2", "outbox.jsonl") }
    })

  it.effect("a journal whose directory was deleted after its link was re-pointed moves where the link leads: said, and what is pending at exit is said kept there (review 60)", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const { poster, scope, now } = yield* flippedDeployThenDeleted(logs)
      poster.unsafeEnqueue({ ...callback, sessionId: "b" })
      yield* TestClock.adjust("0 millis")
      const moved = logs.lines.filter((line) => String(line.message[0]).startsWith("OUTBOX_FILE's directory was deleted while the worker ran, and the variable leads"))
      assert.deepStrictEqual(moved.map((line) => (line.message[1] as { journal: string; pending: number })).map(({ journal, pending }) => [journal, pending]), [[now, 1]])
      yield* Scope.close(scope, Exit.void)
      const atExit = logs.lines.filter((line) => line.message[0] === "on_close callback still pending at exit")
      assert.deepStrictEqual(atExit.map((line) => { const fields = line.message[1] as { session_id: string; kept_in: string }; return [fields.session_id, fields.kept_in] }), [["a", now], ["b", now]])
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("a journal that cannot move, then finds another worker's journal where it would go, says that it journals no more even within the minute of the warning before (review 62 #1)", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const { poster, scope, now } = yield* flippedDeployThenDeleted(logs)
      mkdirSync(now)
      poster.unsafeEnqueue({ ...callback, sessionId: "b" })
      yield* TestClock.adjust("0 millis")
      rmSync(now, { recursive: true })
      symlinkSync(otherWorkersLock(), `${now}.lock`)
      poster.unsafeEnqueue({ ...callback, sessionId: "c" })
      yield* TestClock.adjust("0 millis")
      const said = logs.lines.filter((line) => String(line.message[0]).startsWith("OUTBOX_FILE's directory was deleted while the worker ran, and the journal cannot go"))
      assert.deepStrictEqual(said.map((line) => (line.message[1] as { why: string }).why.replace(/^.* is a directory.*$/, "a directory")), [
        "a directory",
        `another worker (pid ${process.ppid}) holds the journal there, and this worker journals no more`
      ])
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("a journal whose directory was deleted after the flip with no line since moves at the stop, and what is pending is said kept where it went (review 61 #1, #2)", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const { scope, now } = yield* flippedDeployThenDeleted(logs)
      yield* Scope.close(scope, Exit.void)
      const atExit = logs.lines.filter((line) => line.message[0] === "on_close callback still pending at exit")
      assert.deepStrictEqual(atExit.map((line) => { const fields = line.message[1] as { session_id: string; kept_in: string }; return [fields.session_id, fields.kept_in] }), [["a", now]])
      assert.include(readFileSync(now, "utf8"), '"session_id":"a"')
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect(`journalled, what is still pending at exit is listed up to ${EXIT_LINES_WHEN_JOURNALLED} lines, then counted in one: the journal keeps them all`, () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const file = join(mkdtempSync(join(tmpdir(), "outbox-")), "outbox.jsonl")
      const left = EXIT_LINES_WHEN_JOURNALLED + 3
      const line = (index: number) => JSON.stringify({ op: "pending", callback: { session_id: `s${index}`, generation: index, route: "http://127.0.0.1:9/a", body: "{}", reason: "ended" } })
      writeFileSync(file, Array.from({ length: left }, (_, index) => line(index)).join("\n") + "\n")
      const { scope } = yield* posterOnJournal(file, ["hang"], logs)
      yield* TestClock.adjust("0 millis")
      yield* Scope.close(scope, Exit.void)
      const atExit = logs.lines.filter((logged) => String(logged.message[0]).includes("still pending at exit"))
      assert.lengthOf(atExit, EXIT_LINES_WHEN_JOURNALLED + 1)
      assert.deepStrictEqual(atExit.at(-1), { level: "WARN", message: ["and 3 more on_close callbacks still pending at exit", { count: 3, kept_in: file }] })
      // Every one of them is still in the journal for the next start.
      assert.lengthOf(readFileSync(file, "utf8").trim().split("\n"), left)
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect(`without a journal, what is still pending at exit is listed whole, past ${EXIT_LINES_WHEN_JOURNALLED} too: the log is its only record`, () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        CallbackPoster.layerWith({ drainTimeout: "0 millis" }).pipe(
          Layer.provide((yield* scriptedClient(["hang"])).layer),
          Layer.provide(testConfig()),
          Layer.provide(logs.layer)
        ),
        scope
      )
      const poster = Context.get(context, CallbackPoster)
      const pending = EXIT_LINES_WHEN_JOURNALLED + 3
      for (let index = 0; index < pending; index++) yield* poster.post({ ...callback, sessionId: `s${index}`, generation: index })
      yield* TestClock.adjust("0 millis")
      yield* Scope.close(scope, Exit.void)
      const atExit = logs.lines.filter((logged) => String(logged.message[0]).includes("still pending at exit"))
      assert.lengthOf(atExit, pending)
      assert.isTrue(atExit.every((logged) => logged.message[0] === "on_close callback still pending at exit"))
    }).pipe(Effect.provide(logs.layer))
  })

  /** A poster journalling to `file`, its deliveries answered by `statuses`, its logs in `logs`; closed with `scope`. */
  const posterOnJournal = (file: string, statuses: ReadonlyArray<Answer>, logs: ReturnType<typeof capturedLogs>, journalDisk: JournalDisk = nodeJournalDisk) =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { layer, seen } = yield* scriptedClient(statuses)
      const context = yield* Layer.buildWithScope(
        CallbackPoster.layerWith({ drainTimeout: "0 millis", journalDisk }).pipe(
          Layer.provide(layer),
          Layer.provide(testConfig({ outboxFile: Option.some(file) })),
          Layer.provide(logs.layer)
        ),
        scope
      )
      return { poster: Context.get(context, CallbackPoster), scope, seen }
    })

  it.effect("a journal that can no longer be written (a full disk) loses no delivery: callbacks go out, the outbox empties, one warning a minute", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const file = join(mkdtempSync(join(tmpdir(), "outbox-")), "outbox.jsonl")
      const full = fillableDisk()
      const { poster, scope, seen } = yield* posterOnJournal(file, [200], logs, full.disk)
      full.fill(file)
      for (const sessionId of ["a", "b", "c"]) poster.unsafeEnqueue({ ...callback, sessionId })
      yield* TestClock.adjust("0 millis")
      assert.lengthOf(yield* Ref.get(seen), 3)
      const stats = yield* poster.stats
      assert.deepStrictEqual([stats.delivered, stats.pending, stats.inFlight], [3, 0, 0])
      const warnings = logs.lines.filter((line) => String(line.message[0]).startsWith("OUTBOX_FILE could not be written"))
      assert.deepStrictEqual(warnings.map((line) => [line.level, line.message[1]]), [["WARN", { file, cause: "ENOSPC" }]])
      yield* TestClock.adjust("1 minute")
      poster.unsafeEnqueue({ ...callback, sessionId: "d" })
      yield* TestClock.adjust("0 millis")
      const later = logs.lines.filter((line) => String(line.message[0]).startsWith("OUTBOX_FILE could not be written"))
      // The six failed writes of a, b and c (pending, done) and d's pending were counted into the second line.
      assert.deepStrictEqual(later.at(-1)?.message[1], { file, cause: "ENOSPC", repeated_since_last_line: 5 })
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect(`a callback the journal could not take (a full disk) is said at exit to be kept nowhere, and listed past ${EXIT_LINES_WHEN_JOURNALLED} too; one it took is kept in the file (probe 43 L1)`, () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const file = join(mkdtempSync(join(tmpdir(), "outbox-")), "outbox.jsonl")
      const full = fillableDisk()
      const { poster, scope } = yield* posterOnJournal(file, ["hang"], logs, full.disk)
      poster.unsafeEnqueue({ ...callback, sessionId: "kept" })
      full.fill(file)
      const lost = EXIT_LINES_WHEN_JOURNALLED + 2
      for (let index = 0; index < lost; index++) poster.unsafeEnqueue({ ...callback, sessionId: `lost${index}` })
      yield* TestClock.adjust("0 millis")
      yield* Scope.close(scope, Exit.void)
      const atExit = logs.lines.filter((logged) => String(logged.message[0]).includes("still pending at exit"))
      const keptIn = (logged: (typeof atExit)[number]) => [(logged.message[1] as { session_id: string }).session_id, (logged.message[1] as { kept_in: string }).kept_in]
      assert.deepStrictEqual(atExit.map(keptIn), [["kept", file], ...Array.from({ length: lost }, (_, index) => [`lost${index}`, "nowhere (not written to OUTBOX_FILE)"])])
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("a callback the journal could not take while the disk was full is kept in the file at exit once the disk has room (probe 51 M1)", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const file = join(mkdtempSync(join(tmpdir(), "outbox-")), "outbox.jsonl")
      const full = fillableDisk()
      const { poster, scope } = yield* posterOnJournal(file, ["hang"], logs, full.disk)
      poster.unsafeEnqueue({ ...callback, sessionId: "before" })
      const fd = full.fill(file)
      poster.unsafeEnqueue({ ...callback, sessionId: "during" })
      yield* TestClock.adjust("0 millis")
      full.free(fd, file)
      yield* Scope.close(scope, Exit.void)
      const atExit = logs.lines.filter((logged) => String(logged.message[0]).includes("still pending at exit"))
      assert.deepStrictEqual(
        atExit.map((logged) => (logged.message[1] as { kept_in: string }).kept_in),
        [file, file]
      )
      const opened = yield* openJournal(file)
      opened.journal.close()
      assert.deepStrictEqual(opened.left.map((left) => left.session_id), ["before", "during"])
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("a journal deleted with its directory while the worker ran holds nothing at exit: every pending callback is said to be kept nowhere (review 47 M1)", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "outbox-"))
      const file = join(dir, "outbox.jsonl")
      const { poster, scope } = yield* posterOnJournal(file, ["hang"], logs)
      poster.unsafeEnqueue({ ...callback, sessionId: "before" })
      rmSync(dir, { recursive: true, force: true })
      poster.unsafeEnqueue({ ...callback, sessionId: "after" })
      yield* TestClock.adjust("0 millis")
      yield* Scope.close(scope, Exit.void)
      const atExit = logs.lines.filter((logged) => String(logged.message[0]).includes("still pending at exit"))
      assert.deepStrictEqual(
        atExit.map((logged) => (logged.message[1] as { kept_in: string }).kept_in),
        ["nowhere (not written to OUTBOX_FILE)", "nowhere (not written to OUTBOX_FILE)"]
      )
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("the journal's notices are warnings naming the file: one it could not rewrite at start, one deleted while the worker ran", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const file = join(mkdtempSync(join(tmpdir(), "outbox-")), "outbox.jsonl")
      // The start's rewrite goes through a temporary file made to fail as a full disk does.
      let rewrites = 0
      const fullOnce = { ...nodeJournalDisk, createFresh: (path: string) => (rewrites++ === 0 ? openSync("/dev/full", "w") : nodeJournalDisk.createFresh(path)) }
      const { poster, scope } = yield* posterOnJournal(file, [503], logs, fullOnce)
      poster.unsafeEnqueue({ ...callback, sessionId: "a" })
      unlinkSync(file)
      poster.unsafeEnqueue({ ...callback, sessionId: "b" })
      yield* TestClock.adjust("0 millis")
      const warned = (start: string) => logs.lines.filter((line) => String(line.message[0]).startsWith(start)).map((line) => [line.level, line.message[1]])
      // Nothing to rewrite: the empty file's fsync is what /dev/full refuses.
      assert.deepStrictEqual(warned("OUTBOX_FILE could not be rewritten"), [["WARN", { file, cause: "EINVAL" }]])
      assert.deepStrictEqual(warned("OUTBOX_FILE was deleted while the worker ran"), [["WARN", { file, pending: 1 }]])
      assert.isTrue(existsSync(file))
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(logs.layer))
  })

  /** A poster whose journal's directory is deleted after one callback, `meanwhile` run, then a second callback. */
  const journalDirectoryDeleted = (meanwhile: (directory: string, file: string) => void) => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const directory = mkdtempSync(join(tmpdir(), "outbox-"))
      const file = join(directory, "outbox.jsonl")
      const { poster, scope } = yield* posterOnJournal(file, [503], logs)
      poster.unsafeEnqueue({ ...callback, sessionId: "a" })
      rmSync(directory, { recursive: true })
      meanwhile(directory, file)
      poster.unsafeEnqueue({ ...callback, sessionId: "b" })
      yield* TestClock.adjust("0 millis")
      const warned = (start: string) => logs.lines.filter((line) => String(line.message[0]).startsWith(start)).map((line) => [line.level, line.message[1]])
      yield* Scope.close(scope, Exit.void)
      return { directory, file, warned }
    }).pipe(Effect.provide(logs.layer))
  }

  it.effect("a journal deleted with its directory is said in a warning naming both, not as a failed rewrite", () =>
    Effect.gen(function* () {
      const { directory, file, warned } = yield* journalDirectoryDeleted(() => undefined)
      assert.deepStrictEqual(warned("OUTBOX_FILE was deleted with its directory"), [["WARN", { file, directory }]])
      assert.deepStrictEqual(warned("OUTBOX_FILE could not be rewritten"), [])
    })
  )

  it.effect("a journal whose lock another worker took after the directory was deleted is said in a warning naming the file and that worker", () =>
    Effect.gen(function* () {
      const { file, warned } = yield* journalDirectoryDeleted((directory, file) => {
        mkdirSync(directory)
        // The parent process stands for the other worker: alive, and not this one.
        symlinkSync(otherWorkersLock(), `${file}.lock`)
      })
      assert.deepStrictEqual(warned("OUTBOX_FILE's lock was deleted"), [["WARN", { file, holder: process.ppid }]])
      assert.isFalse(existsSync(file), "the other worker's file is not written by this one")
    })
  )

  it.effect("a finished delivery is no longer in flight, and a drain after it ends at once", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { poster } = yield* posterWith([503, 200], scope, {}, "5 seconds")
      yield* poster.post(callback)
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual([(yield* poster.stats).inFlight, (yield* poster.stats).pending, (yield* poster.stats).delivered], [0, 0, 1])
      const drained = yield* Effect.fork(poster.drain("5 seconds"))
      yield* TestClock.adjust("0 millis")
      assert.isTrue(Option.isSome(yield* drained.poll))
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.effect("a drain waiting on a delivery in flight ends when that delivery finishes, not at its time-out", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { poster } = yield* posterWith([{ status: 200, delayMs: 1_000 }], scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      const drained = yield* Effect.fork(poster.drain("10 seconds"))
      yield* TestClock.adjust("999 millis")
      assert.isTrue(Option.isNone(yield* drained.poll))
      yield* TestClock.adjust("1 millis")
      assert.isTrue(Option.isSome(yield* drained.poll))
      assert.strictEqual((yield* poster.stats).delivered, 1)
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.effect("by default a closing poster waits 5 s for a delivery in flight, then gives it up", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { poster } = yield* posterOver(scriptedClient(["hang"]), scope, {}, {})
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      const closed = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("4999 millis")
      assert.isTrue(Option.isNone(yield* closed.poll))
      yield* TestClock.adjust("1 millis")
      assert.isTrue(Option.isSome(yield* closed.poll))
    })
  )

  it.effect("a callback queued while a drain waits is waited for too: the drain ends when both are delivered", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { poster } = yield* posterOver(
        routedClient((url) => ({ status: 200, delayMs: url.endsWith("/first") ? 1_000 : 3_000 })),
        scope
      )
      yield* poster.post({ ...callback, sessionId: "first0000000A", route: "http://127.0.0.1:9/first" })
      yield* TestClock.adjust("0 millis")
      const drained = yield* Effect.fork(poster.drain("10 seconds"))
      yield* TestClock.adjust("0 millis")
      yield* poster.post({ ...callback, sessionId: "second000000B", route: "http://127.0.0.1:9/second" })
      yield* TestClock.adjust("1 second")
      // The first is delivered; the second is still in flight, and the drain waits for it.
      assert.deepStrictEqual([(yield* poster.stats).delivered, Option.isNone(yield* drained.poll)], [1, true])
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual([(yield* poster.stats).delivered, Option.isSome(yield* drained.poll)], [2, true])
      yield* Scope.close(scope, Exit.void)
    })
  )

  describe("metrics", () => {
    /** The poster with the default policy over `script`, and the metrics it counts into. */
    const counted = (script: ReadonlyArray<Answer>, scope: Scope.Scope, settings: Partial<WorkerSettings> = {}) =>
      Effect.gen(function* () {
        const { layer } = yield* scriptedClient(script)
        const context = yield* Layer.buildWithScope(
          CallbackPoster.DefaultWithoutDependencies.pipe(
            Layer.provideMerge(WorkerMetrics.Default),
            Layer.provide(layer),
            Layer.provide(testConfig(settings)),
            Layer.provide(quietLogs)
          ),
          scope
        )
        const metrics = Context.get(context, WorkerMetrics)
        const outcome = (name: string) => sample(metrics, "null_worker_callback_deliveries_total", { outcome: name })
        return { poster: Context.get(context, CallbackPoster), outcome }
      })

    it.scoped("each failed attempt that another follows counts as retried; the one given up after counts as failed", () =>
      Effect.gen(function* () {
        const { outcome, poster } = yield* counted([503], yield* Effect.scope)
        yield* poster.post(callback)
        yield* TestClock.adjust("60 seconds")
        assert.deepStrictEqual([yield* outcome("retried"), yield* outcome("failed"), yield* outcome("delivered")], [5, 1, 0])
      })
    )

    it.scoped("a final 4xx is failed without a retry; a recovery counts one retry and one delivery", () =>
      Effect.gen(function* () {
        const final = yield* counted([404], yield* Effect.scope)
        yield* final.poster.post(callback)
        yield* TestClock.adjust("60 seconds")
        assert.deepStrictEqual([yield* final.outcome("retried"), yield* final.outcome("failed")], [0, 1])
        const recovered = yield* counted([502, 200], yield* Effect.scope)
        yield* recovered.poster.post(callback)
        yield* TestClock.adjust("60 seconds")
        assert.deepStrictEqual([yield* recovered.outcome("retried"), yield* recovered.outcome("delivered"), yield* recovered.outcome("failed")], [1, 1, 0])
      })
    )

    it.scoped("a create refused at the cap is counted in stats and in the metrics; stats show the configured bounds", () =>
      Effect.gen(function* () {
        const { outcome, poster } = yield* counted([200], yield* Effect.scope, { callbackMaxPending: 7, callbackConcurrency: 3 })
        poster.unsafeRefusedAtCap()
        poster.unsafeRefusedAtCap()
        const stats = yield* poster.stats
        assert.deepStrictEqual([stats.refusedAtCap, stats.maxPending, stats.concurrency], [2, 7, 3])
        assert.strictEqual(yield* outcome("refused_at_cap"), 2)
      })
    )
  })

  it.effect("a delivery that shutdown interrupts is no longer counted in flight; it stays pending", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { poster } = yield* posterWith(["hang"], scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      assert.deepStrictEqual([(yield* poster.stats).pending, (yield* poster.stats).inFlight], [1, 1])
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual([(yield* poster.stats).pending, (yield* poster.stats).inFlight], [1, 0])
    })
  )

  it.scoped("the outbox drains once: a second drain (the finalizer after the shutdown sequence) does not wait again", () =>
    Effect.gen(function* () {
      const { poster } = yield* posterWith(["hang"], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      const first = yield* Effect.fork(poster.drain("3 seconds"))
      yield* TestClock.adjust("2999 millis")
      assert.isTrue(Option.isNone(yield* first.poll))
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(first)
      const second = yield* Effect.fork(poster.drain("3 seconds"))
      yield* TestClock.adjust("0 millis")
      assert.isTrue(Option.isSome(yield* second.poll))
    })
  )

  describe("OUTBOX_FILE", () => {
    const journalIn = () => join(mkdtempSync(join(tmpdir(), "outbox-")), "outbox.jsonl")

    it.effect("a pending callback is journalled before its first attempt, and marked done once delivered", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const scope = yield* Scope.make()
        const { poster } = yield* posterWith(["hang"], scope, { outboxFile: Option.some(file) })
        yield* poster.post(callback)
        const lines = readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line))
        assert.deepStrictEqual(lines, [{ op: "pending", callback: { session_id: callback.sessionId, generation: 3, route: callback.route, body: callback.body, reason: "ended" } }])
        yield* Scope.close(scope, Exit.void)
        // A second process replays it and, once delivered, marks it done; a third finds nothing to send.
        const second = yield* Scope.make()
        const again = yield* posterWith([200], second, { outboxFile: Option.some(file) })
        yield* TestClock.adjust("0 millis")
        assert.deepStrictEqual((yield* Ref.get(again.seen)).map((request) => request.body), [JSON.parse(callback.body)])
        assert.isTrue((yield* again.poster.deliveries)[0]?.replayed)
        yield* Scope.close(second, Exit.void)
        const third = yield* Scope.make()
        const last = yield* posterWith([200], third, { outboxFile: Option.some(file) })
        yield* TestClock.adjust("0 millis")
        assert.lengthOf(yield* Ref.get(last.seen), 0)
        yield* Scope.close(third, Exit.void)
      })
    )

    it.effect("a replayed callback is not journalled again: once delivered, the file holds its one pending line and its done line", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const left = { session_id: "a", generation: 1, route: "http://127.0.0.1:9/a", body: "{}", reason: "ended" }
        writeFileSync(file, JSON.stringify({ op: "pending", callback: left }) + "\n" + JSON.stringify({ op: "done", session_id: "gone" }) + "\n")
        const scope = yield* Scope.make()
        yield* posterWith([200], scope, { outboxFile: Option.some(file) })
        yield* TestClock.adjust("0 millis")
        yield* Scope.close(scope, Exit.void)
        const lines: ReadonlyArray<unknown> = readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line))
        assert.deepStrictEqual(lines, [{ op: "pending", callback: left }, { op: "done", session_id: "a" }])
      })
    )

    it.effect("a journal that cannot be opened stops the poster's start, and the reason is logged where it happened", () => {
      const logs = capturedLogs()
      return Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "outbox-"))
        const { layer } = yield* scriptedClient([200])
        const exit = yield* Effect.exit(
          Effect.scoped(
            Layer.build(
              CallbackPoster.layerWith({ drainTimeout: "0 millis" }).pipe(
                Layer.provide(layer),
                Layer.provide(testConfig({ outboxFile: Option.some(dir) })),
                Layer.provide(logs.layer)
              )
            )
          )
        )
        assert.isTrue(Exit.isFailure(exit))
        assert.deepStrictEqual(
          logs.lines.filter((line) => line.level === "ERROR").map((line) => line.message),
          [[`OUTBOX_FILE ${dir} cannot be used: ${dir} is a directory, not a regular file`]]
        )
      })
    })

    /** A journal line for a pending callback to `http://127.0.0.1:9/<id>`. */
    const pendingLine = (id: string) =>
      JSON.stringify({ op: "pending", callback: { session_id: id, generation: 1, route: `http://127.0.0.1:9/${id}`, body: "{}", reason: "ended" } })

    /** A poster started over a journal holding `lines`, its deliveries hanging, its logs in `logs`. */
    const startOverJournal = (lines: ReadonlyArray<string>, callbackMaxPending: number, logs: ReturnType<typeof capturedLogs>) =>
      Effect.gen(function* () {
        const file = journalIn()
        writeFileSync(file, lines.join("\n") + "\n")
        const scope = yield* Scope.make()
        const { layer } = yield* scriptedClient(["hang"])
        const context = yield* Layer.buildWithScope(
          CallbackPoster.layerWith({ drainTimeout: "0 millis" }).pipe(
            Layer.provide(layer),
            Layer.provide(testConfig({ outboxFile: Option.some(file), callbackMaxPending })),
            Layer.provide(logs.layer)
          ),
          scope
        )
        return { file, scope, poster: Context.get(context, CallbackPoster) }
      })

    it.effect("a journal replayed over CALLBACK_MAX_PENDING: every callback is pending, the first CALLBACK_MAX_PENDING of them (the next to be sent) are listed", () => {
      const logs = capturedLogs()
      return Effect.gen(function* () {
        const { poster, scope } = yield* startOverJournal(["a", "b", "c", "d", "e"].map(pendingLine), 2, logs)
        assert.strictEqual((yield* poster.stats).pending, 5)
        assert.deepStrictEqual((yield* poster.deliveries).map((record) => record.sessionId), ["a", "b"])
        yield* Scope.close(scope, Exit.void)
      })
    })

    it.effect("a journal with damaged lines, or with more callbacks than CALLBACK_MAX_PENDING, is said at start: one warning each", () => {
      const logs = capturedLogs()
      return Effect.gen(function* () {
        const { file, scope } = yield* startOverJournal([pendingLine("a"), '{"op":"pending","callb', pendingLine("b"), pendingLine("c"), "not json"], 2, logs)
        const warnings = logs.lines.filter((line) => line.level === "WARN").map((line) => line.message)
        assert.deepStrictEqual(warnings, [
          ["OUTBOX_FILE had lines that are not journal lines (torn by a crash or a full disk, or damaged): dropped", { file, lines: 2 }],
          ["OUTBOX_FILE left more callbacks than CALLBACK_MAX_PENDING: creates with an on_close_route are refused until they are sent", { count: 3, max_pending: 2 }]
        ])
        yield* Scope.close(scope, Exit.void)
      })
    })

    it.effect("a journal with exactly CALLBACK_MAX_PENDING callbacks is within the cap: no warning", () => {
      const logs = capturedLogs()
      return Effect.gen(function* () {
        const { scope } = yield* startOverJournal([pendingLine("a"), pendingLine("b")], 2, logs)
        assert.deepStrictEqual(logs.lines.filter((line) => line.level === "WARN"), [])
        assert.deepStrictEqual(
          logs.lines.filter((line) => line.level === "INFO").map((line) => line.message),
          [["re-sending callbacks a previous process left pending", { count: 2 }]]
        )
        yield* Scope.close(scope, Exit.void)
      })
    })

    it.effect("a callback the pool queues (unsafeEnqueue) is journalled, and is not marked as replayed", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const scope = yield* Scope.make()
        const { poster } = yield* posterWith(["hang"], scope, { outboxFile: Option.some(file) })
        poster.unsafeEnqueue(callback)
        const lines = readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line))
        assert.deepStrictEqual(lines, [{ op: "pending", callback: { session_id: callback.sessionId, generation: 3, route: callback.route, body: callback.body, reason: "ended" } }])
        assert.deepStrictEqual((yield* poster.deliveries).map((delivery) => delivery.replayed), [false])
        yield* Scope.close(scope, Exit.void)
      })
    )

    it.effect("closing the poster closes its journal's file", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const scope = yield* Scope.make()
        yield* posterWith([200], scope, { outboxFile: Option.some(file) })
        assert.strictEqual(descriptorsOn(file), 1)
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(descriptorsOn(file), 0)
      })
    )

    it.effect("a journal whose lock another live worker holds is tried again once a second for BIND_RETRY_SECONDS: let go meanwhile (a predecessor that stopped), it is taken", () =>
      Effect.gen(function* () {
        const file = journalIn()
        // The parent process stands for the other worker: alive, and not this one.
        symlinkSync(otherWorkersLock(), `${file}.lock`)
        const scope = yield* Scope.make()
        const started = yield* Effect.fork(posterWith([200], scope, { outboxFile: Option.some(file), bindRetrySeconds: 3 }))
        yield* TestClock.adjust("2 seconds")
        assert.isNull(started.unsafePoll(), "still waiting for the lock")
        unlinkSync(`${file}.lock`)
        yield* TestClock.adjust("1 second")
        const { poster } = yield* Fiber.join(started)
        yield* poster.post(callback)
        assert.strictEqual(readlinkSync(`${file}.lock`).split(":")[0], String(process.pid))
        yield* Scope.close(scope, Exit.void)
      })
    )

    it.effect("a journal still locked by another live worker after BIND_RETRY_SECONDS fails the start, naming the holder; with no retries at once", () =>
      Effect.gen(function* () {
        for (const bindRetrySeconds of [0, 2]) {
          const file = journalIn()
          symlinkSync(otherWorkersLock(), `${file}.lock`)
          const scope = yield* Scope.make()
          const logs = capturedLogs(LogLevel.Debug)
          const started = yield* Effect.fork(
            Effect.exit(posterOver(scriptedClient([200]), scope, { outboxFile: Option.some(file), bindRetrySeconds }, undefined, undefined, logs.layer))
          )
          yield* TestClock.adjust(`${bindRetrySeconds} seconds`)
          const exit = yield* Fiber.join(started)
          assert.isTrue(Exit.isFailure(exit), `${bindRetrySeconds}`)
          // The first failed try said as a warning with how long it goes on, the next at debug level; none after the last.
          const locked = `OUTBOX_FILE ${file} cannot be used: it is in use by process ${process.ppid} (${file}.lock)`
          assert.deepStrictEqual(
            logs.lines.filter((line) => String(line.message[0]).startsWith(locked)).map((line) => `${line.level} ${String(line.message[0])}`),
            bindRetrySeconds === 0
              ? [`ERROR ${locked}`]
              : [`WARN ${locked}; trying again every 1 s for up to 2 s (BIND_RETRY_SECONDS)`, `DEBUG ${locked}; trying again (try 3 of 3)`, `ERROR ${locked}`]
          )
          assert.include(String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : ""), `it is in use by process ${process.ppid}`)
          assert.isTrue(readlinkSync(`${file}.lock`).startsWith(`${process.ppid}:`), "the other worker's lock is left as it was")
          yield* Scope.close(scope, Exit.void)
        }
      })
    )

    it.effect("an OUTBOX_FILE that cannot be used for another reason than a live worker's lock fails the start at once, without trying again", () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "outbox-"))
        const scope = yield* Scope.make()
        const logs = capturedLogs(LogLevel.Debug)
        const started = yield* Effect.fork(Effect.exit(posterOver(scriptedClient([200]), scope, { outboxFile: Option.some(dir), bindRetrySeconds: 5 }, undefined, undefined, logs.layer)))
        yield* TestClock.adjust("0 millis")
        const exit = started.unsafePoll()
        assert.isNotNull(exit, "failed with no time passed")
        assert.isTrue(exit !== null && Exit.isSuccess(exit) && Exit.isFailure(exit.value))
        assert.deepStrictEqual(
          logs.lines.map((line) => `${line.level} ${String(line.message[0])}`),
          [`ERROR OUTBOX_FILE ${dir} cannot be used: ${dir} is a directory, not a regular file`]
        )
        yield* Scope.close(scope, Exit.void)
      })
    )

    it.effect("an OUTBOX_FILE that cannot be used fails with JournalUnavailable naming the file and the reason", () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "outbox-"))
        const failure = yield* Effect.flip(openJournal(dir))
        assert.strictEqual(failure._tag, "JournalUnavailable")
        assert.strictEqual(failure.message, `OUTBOX_FILE ${dir} cannot be used: ${dir} is a directory, not a regular file`)
      })
    )

    it.effect("a torn last line (a crash mid-write) is skipped", () =>
      Effect.gen(function* () {
        const file = journalIn()
        writeFileSync(file, JSON.stringify({ op: "pending", callback: { session_id: "a", generation: 1, route: "http://127.0.0.1:9/a", body: "{}", reason: "ended" } }) + '\n{"op":"pend')
        const scope = yield* Scope.make()
        const { seen } = yield* posterWith([200], scope, { outboxFile: Option.some(file) })
        yield* TestClock.adjust("0 millis")
        assert.deepStrictEqual((yield* Ref.get(seen)).map((request) => request.url), ["http://127.0.0.1:9/a"])
        yield* Scope.close(scope, Exit.void)
      })
    )
  })
})
