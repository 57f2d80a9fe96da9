import { assert, describe, it } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Fiber, FiberId, LogLevel, Ref, Schema, TestClock } from "effect"
import { WorkerStatusBody } from "../../../src/protocol/workerStatus.js"
import { describeLaunchFailure, reportLaunchFailure } from "../../../src/worker/autoscaler/launchFailure.js"
import { type Answer, routedClient } from "../../support/fakeHttpClient.js"
import { quietLogs } from "../../support/layers.js"
import { capturedLogs } from "../../support/logs.js"

const decodeStatus = Schema.decodeUnknownSync(WorkerStatusBody)

const env = (entries: Record<string, string>) => ConfigProvider.fromMap(new Map(Object.entries(entries)))

const complete = {
  REPORT_ADDR: "http://127.0.0.1:9101,http://127.0.0.1:9102",
  CONTAINER_ID: "31337",
  MASTER_TOKEN: "tok",
  WORKER_PORT: "3000",
  PUBLIC_IPADDR: "203.0.113.7",
  VAST_TCP_PORT_3000: "41234",
  USE_SSL: "true"
}

/** The beacon running in a fiber for `seconds` of TestClock time; what it posted, decoded. */
const beacon = (entries: Record<string, string>, seconds: number, answerFor: (url: string) => Answer = () => 200) =>
  Effect.gen(function* () {
    const { layer, seen } = yield* routedClient(answerFor)
    const fiber = yield* reportLaunchFailure("the backend never started").pipe(
      Effect.provide(layer),
      Effect.withConfigProvider(env(entries)),
      Effect.provide(quietLogs),
      Effect.fork
    )
    yield* TestClock.adjust(`${seconds} seconds`)
    yield* Fiber.interrupt(fiber)
    return (yield* Ref.get(seen)).map((request) => ({ url: request.url, at: request.at, body: decodeStatus(request.body) }))
  })

describe("reportLaunchFailure (the launch-failure beacon)", () => {
  it.effect("a worker that cannot start reports its reason every 10 s, as an error-only /worker_status/", () =>
    Effect.gen(function* () {
      const posts = yield* beacon(complete, 25)
      assert.deepStrictEqual(posts.map((post) => [post.url, post.at]), [
        ["http://127.0.0.1:9101/worker_status/", 0],
        ["http://127.0.0.1:9101/worker_status/", 10_000],
        ["http://127.0.0.1:9101/worker_status/", 20_000]
      ])
      const [first] = posts
      assert.deepStrictEqual(
        [first?.body.id, first?.body.mtoken, first?.body.error_msg, first?.body.url, first?.body.max_perf, first?.body.cur_load],
        [31337, "tok", "the backend never started", "https://203.0.113.7:41234", 0, 0]
      )
    })
  )

  it.effect("the beacon fails over to the next REPORT_ADDR address like every report", () =>
    Effect.gen(function* () {
      const posts = yield* beacon(complete, 7, (url) => (url.includes(":9101") ? 503 : 200))
      // Three tries 2 s apart at the first address, then the second one.
      assert.deepStrictEqual(posts.map((post) => [new URL(post.url).port, post.at]), [["9101", 0], ["9101", 2000], ["9101", 4000], ["9102", 6000]])
    })
  )

  it.effect("a first address that hangs delays one beacon in five minutes, not every one: the next go straight to the second", () =>
    Effect.gen(function* () {
      const posts = yield* beacon(complete, 60, (url) => (url.includes(":9101") ? "hang" : 200))
      // Three tries of 10 s, 2 s apart, at the first address; the second hears the beacon at 36 s (a pause follows each failed try), then every 10 s.
      assert.deepStrictEqual(posts.map((post) => [new URL(post.url).port, post.at]), [
        ["9101", 0],
        ["9101", 12_000],
        ["9101", 24_000],
        ["9102", 36_000],
        ["9102", 46_000],
        ["9102", 56_000]
      ])
    })
  )

  it.effect("a beacon no address accepts is said: once, then at most once a minute with how many were not; once one is taken, the next failure is said at once", () =>
    Effect.gen(function* () {
      let refusing = true
      const { layer, seen } = yield* routedClient(() => (refusing ? 503 : 200))
      const logs = capturedLogs(LogLevel.Warning)
      const fiber = yield* reportLaunchFailure("broken").pipe(
        Effect.provide(layer),
        Effect.withConfigProvider(env(complete)),
        Effect.provide(logs.layer),
        Effect.fork
      )
      const warnings = () => logs.lines.filter((line) => String(line.message[0]).startsWith("autoscaler did not accept the launch failure's /worker_status/"))
      yield* TestClock.adjust("15 seconds")
      assert.lengthOf(warnings(), 1)
      assert.include(JSON.stringify(warnings()[0]?.message), "503")
      // The beacons refused in the minute after are counted, not said; the first one after it is said, with the count.
      yield* TestClock.adjust("50 seconds")
      assert.lengthOf(warnings(), 1)
      yield* TestClock.adjust("20 seconds")
      assert.lengthOf(warnings(), 2)
      assert.include(JSON.stringify(warnings()[1]?.message), "repeated_since_last_line")
      refusing = false
      yield* TestClock.adjust("25 seconds")
      refusing = true
      const before = (yield* Ref.get(seen)).length
      yield* TestClock.adjust("25 seconds")
      assert.isAbove((yield* Ref.get(seen)).length, before)
      assert.lengthOf(warnings(), 3)
      yield* Fiber.interrupt(fiber)
    })
  )

  it.effect("an address with credentials and a token: posted to its path before the query; the log line shows neither", () =>
    Effect.gen(function* () {
      const { layer, seen } = yield* routedClient(() => 200)
      const logs = capturedLogs()
      const fiber = yield* reportLaunchFailure("broken").pipe(
        Effect.provide(layer),
        Effect.withConfigProvider(env({ ...complete, REPORT_ADDR: "http://user:s3cret@127.0.0.1:9101/?token=t0ken,http://127.0.0.1:9102" })),
        Effect.provide(logs.layer),
        Effect.fork
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual((yield* Ref.get(seen)).map((request) => request.url), ["http://user:s3cret@127.0.0.1:9101/worker_status/?token=t0ken"])
      const text = JSON.stringify(logs.lines)
      assert.include(
        text,
        "reporting the launch failure to http://127.0.0.1:9101/?…, http://127.0.0.1:9102 every 10 s until stopped (Ctrl-C or SIGTERM); the worker serves nothing: fix the cause above and start it again"
      )
      assert.notInclude(text, "s3cret")
      assert.notInclude(text, "t0ken")
    })
  )

  it.effect("without USE_SSL=true the worker's url is http; without the port mapping it is empty", () =>
    Effect.gen(function* () {
      const { USE_SSL: _ssl, ...plain } = complete
      const [http] = yield* beacon(plain, 1)
      assert.strictEqual(http?.body.url, "http://203.0.113.7:41234")
      const { VAST_TCP_PORT_3000: _mapped, ...unmapped } = complete
      const [none] = yield* beacon(unmapped, 1)
      assert.strictEqual(none?.body.url, "")
      const [falseSsl] = yield* beacon({ ...complete, USE_SSL: "false" }, 1)
      assert.strictEqual(falseSsl?.body.url, "http://203.0.113.7:41234")
    })
  )

  it.effect("without REPORT_ADDR or CONTAINER_ID there is nobody to tell: it fails with LaunchFailed and the reason", () =>
    Effect.gen(function* () {
      const { REPORT_ADDR: _addr, ...noAddr } = complete
      const { CONTAINER_ID: _id, ...noId } = complete
      for (const entries of [noAddr, noId]) {
        const { layer, seen } = yield* routedClient(() => 200)
        const failure = yield* reportLaunchFailure("the backend never started").pipe(
          Effect.provide(layer),
          Effect.withConfigProvider(env(entries)),
          Effect.provide(quietLogs),
          Effect.flip
        )
        assert.deepStrictEqual([failure._tag, failure.message], ["LaunchFailed", "the backend never started"])
        assert.lengthOf(yield* Ref.get(seen), 0)
      }
    })
  )

  it.effect("an empty MASTER_TOKEN is sent as empty (the default)", () =>
    Effect.gen(function* () {
      const { MASTER_TOKEN: _token, ...noToken } = complete
      const [first] = yield* beacon(noToken, 1)
      assert.strictEqual(first?.body.mtoken, "")
    })
  )
})

describe("describeLaunchFailure (the error_msg of a failed launch)", () => {
  it("a failure is its message, or its tag when it has none", () => {
    assert.strictEqual(describeLaunchFailure(Cause.fail({ _tag: "TlsUnavailable", message: "Failed to get SSL Certificate: x" })), "Failed to get SSL Certificate: x")
    assert.strictEqual(describeLaunchFailure(Cause.fail({ _tag: "Quiet", message: "" })), "Quiet")
  })

  it("a defect is one line, its name and message: never the stack and its local paths", () => {
    const defect = new Error("error:05800074:x509 certificate routines::key values mismatch")
    defect.stack = `${defect.name}: ${defect.message}\n    at setKey (node:internal/tls/secure-context:93:11)\n    at /tmp/hostile2/dist/main.js:69:370`
    const reason = describeLaunchFailure(Cause.sequential(Cause.interrupt(FiberId.none), Cause.die(defect)))
    assert.strictEqual(reason, "Error: error:05800074:x509 certificate routines::key values mismatch")
    assert.strictEqual(describeLaunchFailure(Cause.die(new RangeError("first\nsecond"))), "RangeError: first")
    assert.strictEqual(describeLaunchFailure(Cause.die("a string\nthrown")), "a string")
    // An error without a message is its name alone, not "TypeError: ".
    assert.strictEqual(describeLaunchFailure(Cause.die(new TypeError(""))), "TypeError")
  })
})
