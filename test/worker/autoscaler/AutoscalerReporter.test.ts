import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Effect, Exit, Fiber, Layer, Option, Ref, Schema, Scope, TestClock } from "effect"
import { AutoscalerReporter } from "../../../src/worker/autoscaler/AutoscalerReporter.js"
import { AutoscalerPost, redirectTarget } from "../../../src/worker/autoscaler/jsonPost.js"
import { LoadMetrics, MAX_PENDING_FINISHED } from "../../../src/worker/autoscaler/LoadMetrics.js"
import { WorkerMetrics } from "../../../src/worker/metrics/WorkerMetrics.js"
import { DeleteRequestsBody, type WorkerStatusBody } from "../../../src/protocol/workerStatus.js"
import { advanceUntilDone, readThrough } from "../../support/clock.js"
import { type Answer, routedClient, type SeenRequest } from "../../support/fakeHttpClient.js"
import { quietLogs, testConfig } from "../../support/layers.js"
import { capturedLogs } from "../../support/logs.js"
import { pendingRecords, sample } from "../../support/metrics.js"

const A = "http://127.0.0.1:9101"
const B = "http://127.0.0.1:9102"

/** A running reporter whose autoscaler answers with `answerFor(url)`; its log lines go through `logs`. */
const startReporter = (
  answerFor: (url: string, count: number, body: unknown) => Answer,
  scope: Scope.Scope,
  addrs: ReadonlyArray<string> = [A],
  logs: Layer.Layer<never> = quietLogs,
  clock?: Clock.Clock
) =>
  Effect.gen(function* () {
    const { layer, seen } = yield* routedClient(answerFor)
    const build = Layer.buildWithScope(
      AutoscalerReporter.DefaultWithoutDependencies.pipe(
        Layer.provideMerge(Layer.merge(LoadMetrics.Default, WorkerMetrics.Default)),
        Layer.provide(AutoscalerPost.fromHttpClient),
        Layer.provide(layer),
        Layer.provide(testConfig({ reportAddrs: addrs, containerId: 31337, workerUrl: "https://203.0.113.7:41234" })),
        Layer.provide(logs)
      ),
      scope
    )
    // The services' fibers keep the clock they were started with.
    const context = yield* (clock === undefined ? build : Effect.withClock(build, clock))
    yield* TestClock.adjust("0 millis")
    const reporter = Context.get(context, AutoscalerReporter)
    // The last report waits for a report in flight; under the TestClock, time must move for it at the scope's end.
    yield* Scope.addFinalizer(scope, Effect.flatMap(Effect.fork(reporter.finalReport), (last) => advanceUntilDone(last)))
    return { metrics: Context.get(context, LoadMetrics), reporter, prometheus: Context.get(context, WorkerMetrics), seen }
  })

const statuses = (seen: Ref.Ref<ReadonlyArray<SeenRequest>>, from?: string) =>
  Effect.map(Ref.get(seen), (all) =>
    all
      .filter((request) => request.url.endsWith("/worker_status/") && (from === undefined || request.url.startsWith(from)))
      .map((request) => ({ at: request.at, url: request.url, body: request.body as WorkerStatusBody }))
  )

describe("AutoscalerReporter", () => {
  it.scoped("the first report waits for the first change or 1 s", () =>
    Effect.gen(function* () {
      const quiet = yield* startReporter(() => 200, yield* Effect.scope)
      yield* TestClock.adjust("999 millis")
      assert.lengthOf(yield* statuses(quiet.seen), 0)
      yield* TestClock.adjust("1 millis")
      const [first] = yield* statuses(quiet.seen)
      assert.deepStrictEqual([first?.at, first?.body.max_perf], [1000, 0])
      const eager = yield* startReporter(() => 200, yield* Effect.scope)
      yield* TestClock.adjust("100 millis")
      yield* eager.metrics.markReady
      yield* TestClock.adjust("0 millis")
      const [ready] = yield* statuses(eager.seen)
      assert.deepStrictEqual([ready?.at, ready?.body.max_perf], [1100, 100])
    })
  )

  it.scoped("a report or deletion answered 307 or 308 is posted again where it points, with its body (probe 50 L2: an http→https front had every report refused)", () =>
    Effect.gen(function* () {
      const front = "http://127.0.0.1:9103"
      const { metrics, seen } = yield* startReporter(
        (url) =>
          url === `${front}/worker_status/`
            ? { status: 308, location: "https://127.0.0.1:9443/worker_status/" }
            : url === `${front}/delete_requests/`
              ? { status: 307, location: "/moved/delete_requests/" }
              : 200,
        yield* Effect.scope,
        [front]
      )
      yield* metrics.markReady
      yield* metrics.sessionRejected({ requestIdx: 5, workload: 100 })
      yield* TestClock.adjust("1 second")
      const posted = (yield* Ref.get(seen)).map((request) => [request.url, JSON.stringify(request.body).length > 2])
      assert.deepInclude(posted, ["https://127.0.0.1:9443/worker_status/", true])
      assert.deepInclude(posted, [`${front}/moved/delete_requests/`, true])
      assert.deepStrictEqual(((yield* statuses(seen, "https://127.0.0.1:9443")).at(-1))?.body.max_perf, 100)
      assert.deepStrictEqual(yield* pendingRecords(metrics, 10), [], "the deletions were accepted through the redirect")
    })
  )

  it.effect("a redirect that is not 307/308, or to another host, port (but for http to https) or scheme, is not followed", () =>
    Effect.sync(() => {
      assert.strictEqual(redirectTarget("http://a/x", 308, "https://a/y"), "https://a/y")
      assert.strictEqual(redirectTarget("http://a:8080/x", 308, "https://a:8443/y"), "https://a:8443/y")
      assert.strictEqual(redirectTarget("http://a/x", 307, "/y?z=1"), "http://a/y?z=1")
      assert.strictEqual(redirectTarget("https://a:4443/x", 307, "https://A:4443/y"), "https://a:4443/y")
      assert.isNull(redirectTarget("http://a/x", 301, "http://a/y"))
      assert.isNull(redirectTarget("http://a/x", 302, "http://a/y"))
      assert.isNull(redirectTarget("http://a/x", 308, "ftp://a/y"))
      assert.isNull(redirectTarget("http://a/x", 308, undefined))
      assert.isNull(redirectTarget("http://a/x", 200, "http://a/y"))
      // Review 55 M1: another host, another port of the same host (the worker's own control port), a downgrade.
      assert.isNull(redirectTarget("http://a/x", 308, "https://b/y"))
      assert.isNull(redirectTarget("http://127.0.0.1:9101/worker_status/", 307, "http://127.0.0.1:18999/recycle"))
      assert.isNull(redirectTarget("https://a/x", 308, "http://a/y"))
    })
  )

  it.scoped("a report sent round in redirects is given up after 3 hops, as a refusal", () =>
    Effect.gen(function* () {
      const { reporter, seen } = yield* startReporter((url) => ({ status: 307, location: `${url}x` }), yield* Effect.scope)
      yield* TestClock.adjust("1 second")
      const first = (yield* Ref.get(seen)).slice(0, 4).map((request) => request.url)
      assert.deepStrictEqual(first, [`${A}/worker_status/`, `${A}/worker_status/x`, `${A}/worker_status/xx`, `${A}/worker_status/xxx`])
      assert.strictEqual((yield* reporter.stats).accepted, 0)
    })
  )

  it.effect("draining: the next report says max_perf 0 with the open session still in cur_load, and so does the last one", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { metrics, seen } = yield* startReporter(() => 200, scope)
      yield* metrics.markReady
      yield* metrics.sessionOpened("s1", { requestIdx: 8, workload: 100 }, 0)
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(((yield* statuses(seen)).at(-1))?.body.max_perf, 100)
      yield* metrics.markTakingNoSession
      yield* TestClock.adjust("250 millis")
      const draining = (yield* statuses(seen)).at(-1)
      assert.deepStrictEqual([draining?.at, draining?.body.max_perf, draining?.body.cur_load, draining?.body.working_request_idxs], [1000, 0, 100, [8]])
      yield* metrics.sessionClosed("s1", 1250)
      yield* advanceUntilDone(yield* Effect.fork(Scope.close(scope, Exit.void)), "10 millis")
      const last = (yield* statuses(seen)).at(-1)
      assert.deepStrictEqual([last?.body.max_perf, last?.body.cur_load], [0, 0])
    })
  )

  it.scoped("a wall clock stepped back an hour during a report holds no report back, and loadtime stays positive", () =>
    Effect.gen(function* () {
      // The wall clock (NTP's step) moves; the monotonic one (`currentTimeNanos`) does not.
      let step = 0
      const test = yield* Effect.clock
      const stepped = readThrough(test, (now) => now - step)
      const { metrics, seen } = yield* startReporter(
        () => {
          step = 3_600_000
          return 200
        },
        yield* Effect.scope,
        [A],
        quietLogs,
        stepped
      )
      yield* TestClock.adjust("1 second")
      yield* metrics.markReady
      yield* TestClock.adjust("25 seconds")
      const all = yield* statuses(seen)
      // The first report (during which the clock stepped), ready at once, then a heartbeat every 10 s.
      assert.strictEqual(all.length, 4)
      assert.deepStrictEqual(all.map((status) => status.body.loadtime), [0, 1, 1, 1])
    })
  )

  it.scoped("reports each change as it happens (≥ 250 ms apart), then a heartbeat every 10 s", () =>
    Effect.gen(function* () {
      const { metrics, seen } = yield* startReporter(() => 200, yield* Effect.scope)
      yield* TestClock.adjust("1 second")
      const [first] = yield* statuses(seen)
      assert.deepStrictEqual(
        [first?.at, first?.body.max_perf, first?.body.loadtime, first?.body.id, first?.body.version, first?.body.url],
        [1000, 0, 0, 31337, "1.1.0", "https://203.0.113.7:41234"]
      )
      yield* TestClock.adjust("1 second")
      yield* metrics.markReady
      yield* TestClock.adjust("0 millis")
      const ready = (yield* statuses(seen)).at(-1)
      assert.deepStrictEqual([ready?.at, ready?.body.max_perf, ready?.body.loadtime], [2000, 100, 2])
      yield* metrics.sessionOpened("s1", { requestIdx: 4242, workload: 100 }, 2000)
      yield* metrics.sessionRejected({ requestIdx: 4243, workload: 100 })
      yield* TestClock.adjust("249 millis")
      assert.lengthOf(yield* statuses(seen), 2)
      yield* TestClock.adjust("1 millis")
      const busy = (yield* statuses(seen)).at(-1)
      assert.deepStrictEqual(
        [busy?.at, busy?.body.cur_load, busy?.body.rej_load, busy?.body.new_load, busy?.body.num_requests_working, busy?.body.num_requests_recieved, busy?.body.working_request_idxs],
        [2250, 100, 100, 100, 1, 2, [4242]]
      )
      // The heartbeat: 10 s after the spacing that follows the last report.
      yield* TestClock.adjust("10249 millis")
      assert.lengthOf(yield* statuses(seen), 3)
      yield* TestClock.adjust("1 millis")
      const heartbeat = (yield* statuses(seen)).at(-1)
      assert.deepStrictEqual([heartbeat?.at, heartbeat?.body.cur_load, heartbeat?.body.rej_load, heartbeat?.body.new_load], [12500, 100, 0, 0])
    })
  )

  it.scoped("a slow autoscaler does not stretch the spacing: the next report is due 250 ms after the last one began", () =>
    Effect.gen(function* () {
      // The first two reports are answered after 100 ms (later ones at once, so that the scope's last report ends).
      let slow = 2
      const { metrics, seen } = yield* startReporter((url) => (url.endsWith("/worker_status/") && slow-- > 0 ? { status: 200, delayMs: 100 } : 200), yield* Effect.scope)
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("100 millis")
      // The first report (begun at 1,000) was answered at 1,100; a change then is reported at 1,250.
      yield* metrics.markReady
      yield* TestClock.adjust("149 millis")
      assert.deepStrictEqual((yield* statuses(seen)).map((status) => status.at), [1000])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual((yield* statuses(seen)).map((status) => [status.at, status.body.max_perf]), [[1000, 0], [1250, 100]])
    })
  )

  it.scoped("the exact field set and order of /worker_status/", () =>
    Effect.gen(function* () {
      const { seen } = yield* startReporter(() => 200, yield* Effect.scope)
      yield* TestClock.adjust("1 second")
      const [first] = yield* statuses(seen)
      assert.deepStrictEqual(Object.keys(first?.body ?? {}), [
        "id", "mtoken", "version", "loadtime", "cur_load", "rej_load", "new_load", "error_msg", "max_perf", "cur_perf",
        "cur_capacity", "max_capacity", "num_requests_working", "num_requests_recieved", "additional_disk_usage",
        "working_request_idxs", "url"
      ])
    })
  )

  it.scoped("fails over: 3 attempts 2 s apart at the first address, then the second", () =>
    Effect.gen(function* () {
      const { seen } = yield* startReporter((url) => (url.startsWith(A) ? 503 : 200), yield* Effect.scope, [A, B])
      yield* TestClock.adjust("7 seconds")
      const all = yield* statuses(seen)
      assert.deepStrictEqual(all.map((s) => [s.url.startsWith(A) ? "A" : "B", s.at]), [["A", 1000], ["A", 3000], ["A", 5000], ["B", 7000]])
    })
  )

  it.scoped("after a failover, reports and /delete_requests/ try the failed address last for 5 minutes: a hung first address delays one report, not every one; then the first address is first again", () =>
    Effect.gen(function* () {
      let aHangs = true
      const { metrics, seen } = yield* startReporter((url) => (url.startsWith(A) && aHangs ? "hang" : 200), yield* Effect.scope, [A, B])
      // The first report waits out three attempts of 10 s at A, 2 s apart, then goes to B.
      yield* TestClock.adjust("37 seconds")
      const first = yield* statuses(seen)
      assert.deepStrictEqual(first.map((s) => [s.url.startsWith(A) ? "A" : "B", s.at]), [["A", 1000], ["A", 13000], ["A", 25000], ["B", 37000]])
      yield* metrics.sessionOpened("s1", { requestIdx: 5, workload: 100 }, 37_000)
      yield* TestClock.adjust("250 millis")
      const next = (yield* statuses(seen)).slice(first.length)
      assert.deepStrictEqual(next.map((s) => [s.url.startsWith(A) ? "A" : "B", s.at, s.body.cur_load]), [["B", 37000, 100]])
      // Deletions learn it the same way, once; the tick after goes straight to B.
      yield* metrics.sessionClosed("s1", 37_300)
      yield* TestClock.adjust("80 seconds")
      yield* metrics.sessionOpened("s2", { requestIdx: 6, workload: 100 }, 117_300)
      yield* metrics.sessionClosed("s2", 117_300)
      const before = (yield* Ref.get(seen)).filter((r) => r.url.endsWith("/delete_requests/")).length
      yield* TestClock.adjust("8 seconds")
      const later = (yield* Ref.get(seen)).filter((r) => r.url.endsWith("/delete_requests/")).slice(before)
      assert.deepStrictEqual(later.map((r) => [r.url.startsWith(A) ? "A" : "B", (r.body as { requests: Array<{ request_idx: number }> }).requests.map((x) => x.request_idx)]), [["B", [6]]])
      // A recovers. Reports go back to it once 5 minutes have passed since it failed (at 37 s): the first heartbeat after
      // 337 s, and every one after it.
      aHangs = false
      yield* TestClock.adjust("250 seconds")
      const heartbeats = (yield* statuses(seen)).filter((s) => s.at > 300_000).map((s) => [s.url.startsWith(A) ? "A" : "B", s.at])
      const [early, late] = [heartbeats.filter(([, at]) => (at as number) < 337_000), heartbeats.filter(([, at]) => (at as number) >= 337_000)]
      assert.deepStrictEqual([early.length > 0, early.every(([addr]) => addr === "B")], [true, true], JSON.stringify(heartbeats))
      assert.deepStrictEqual([late.length > 0, late.every(([addr]) => addr === "A")], [true, true], JSON.stringify(heartbeats))
    })
  )

  it.scoped("a retry says how things are when it is sent: a session closed during the failed attempts is not reported open; only what the accepted body held is acknowledged", () =>
    Effect.gen(function* () {
      // The first two attempts fail; the third (4 s after the first) is accepted.
      let failures = 2
      const { metrics, seen } = yield* startReporter((url) => (url.endsWith("/worker_status/") && failures-- > 0 ? 503 : 200), yield* Effect.scope)
      yield* metrics.sessionOpened("s1", { requestIdx: 7, workload: 100 }, 0)
      yield* TestClock.adjust("0 millis")
      yield* TestClock.adjust("1 second")
      yield* metrics.sessionClosed("s1", 1000)
      yield* metrics.sessionRejected({ requestIdx: 8, workload: 100 })
      yield* TestClock.adjust("3 seconds")
      const all = yield* statuses(seen)
      assert.deepStrictEqual(
        all.map((s) => [s.at, s.body.cur_load, s.body.working_request_idxs, s.body.rej_load]),
        // The changes made during the attempts ask for one more report, at once: the refusal went out in the accepted
        // body, so it is acknowledged and not counted again.
        [[0, 100, [7], 0], [2000, 0, [], 100], [4000, 0, [], 100], [4000, 0, [], 0]]
      )
      yield* metrics.sessionRejected({ requestIdx: 9, workload: 50 })
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual((yield* statuses(seen)).at(-1)?.body.rej_load, 50)
    })
  )

  it.scoped("while the autoscaler is down nothing is lost: counters add up and are sent once it is back", () =>
    Effect.gen(function* () {
      let down = true
      const { metrics, seen } = yield* startReporter(() => (down ? "network-error" : 200), yield* Effect.scope)
      for (let i = 0; i < 5; i++) {
        yield* metrics.sessionRejected({ requestIdx: i, workload: 100 })
        yield* TestClock.adjust("7 seconds")
      }
      assert.isTrue((yield* statuses(seen)).length > 5)
      down = false
      yield* TestClock.adjust("10 seconds")
      const delivered = (yield* statuses(seen)).filter((s) => s.body.rej_load > 0)
      assert.strictEqual(delivered.at(-1)?.body.rej_load, 500)
      yield* metrics.sessionRejected({ requestIdx: 9, workload: 100 })
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* statuses(seen)).at(-1)?.body.rej_load, 100)
    })
  )

  it.scoped("/delete_requests/: each tick sends everything pending at its start, in batches of at most 10,000, finished work first, each record once", () =>
    Effect.gen(function* () {
      const { metrics, seen } = yield* startReporter(() => 200, yield* Effect.scope)
      for (let i = 0; i < 15_000; i++) {
        metrics.unsafeSessionOpened(`s${i}`, { requestIdx: i, workload: 100 }, 0)
        metrics.unsafeSessionClosed(`s${i}`, 10)
      }
      for (let i = 0; i < 10_000; i++) yield* metrics.sessionRejected({ requestIdx: 20_000 + i, workload: 100 })
      yield* TestClock.adjust("5 seconds")
      const batches = (yield* deletionPosts(seen)).map((post) => post.body.requests)
      assert.deepStrictEqual(
        batches.map((requests) => requests.length),
        [10_000, 10_000, 5_000]
      )
      const all = batches.flat()
      assert.strictEqual(new Set(all.map((record) => record.request_idx)).size, 25_000)
      assert.deepStrictEqual([all[0]?.request_idx, all[0]?.status, all[14_999]?.status, all[15_000]?.request_idx, all[15_000]?.status], [0, "Success", "Success", 20_000, "Rejected"])
      const first = (yield* deletionPosts(seen))[0]?.body
      assert.strictEqual(first?.worker_id, 31337)
    })
  )

  it.scoped("/delete_requests/: an autoscaler that answers 413 to a large batch gets half-size batches at once, and keeps getting them", () =>
    Effect.gen(function* () {
      const size = (body: unknown) => Schema.decodeUnknownSync(DeleteRequestsBody)(body).requests.length
      const { metrics, seen } = yield* startReporter(
        (url, _, body) => (url.endsWith("/delete_requests/") && size(body) > 6_000 ? 413 : 200),
        yield* Effect.scope
      )
      for (let i = 0; i < 15_000; i++) {
        metrics.unsafeSessionOpened(`s${i}`, { requestIdx: i, workload: 100 }, 0)
        metrics.unsafeSessionClosed(`s${i}`, 10)
      }
      yield* TestClock.adjust("1 second")
      const posts = yield* deletionPosts(seen)
      assert.deepStrictEqual(posts.map((post) => [post.at, post.body.requests.length]), [[1000, 10_000], [1000, 5_000], [1000, 5_000], [1000, 5_000]])
      assert.strictEqual(new Set(posts.slice(1).flatMap((post) => post.body.requests.map((record) => record.request_idx))).size, 15_000)
      for (let i = 0; i < 7_000; i++) yield* metrics.sessionRejected({ requestIdx: 20_000 + i, workload: 100 })
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual((yield* deletionPosts(seen)).slice(4).map((post) => post.body.requests.length), [5_000, 2_000])
    })
  )

  it.scoped("/delete_requests/: a refused batch ends its tick; the batches after it wait for the next tick", () =>
    Effect.gen(function* () {
      let refuse = true
      const { metrics, seen } = yield* startReporter((url) => (url.endsWith("/delete_requests/") && refuse ? 503 : 200), yield* Effect.scope)
      for (let i = 0; i < 15_000; i++) {
        metrics.unsafeSessionOpened(`s${i}`, { requestIdx: i, workload: 100 }, 0)
        metrics.unsafeSessionClosed(`s${i}`, 10)
      }
      // The first tick (1 s) tries its first batch three times, 2 s apart, and stops there.
      yield* TestClock.adjust("6500 millis")
      assert.deepStrictEqual((yield* deletionPosts(seen)).map((post) => [post.at, post.body.requests.length]), [[1000, 10_000], [3000, 10_000], [5000, 10_000]])
      refuse = false
      yield* TestClock.adjust("2 seconds")
      const sizes = (yield* deletionPosts(seen)).slice(3).map((post) => post.body.requests.length)
      assert.deepStrictEqual(sizes, [10_000, 5_000])
    })
  )

  it.scoped("/delete_requests/: a tick sends what was pending when it began; refusals that arrive during its posts wait for the next tick (a 429 flood is not a post loop)", () =>
    Effect.gen(function* () {
      let next = 10_000
      let floodPosts = 4
      let onPost = () => {}
      const { metrics, seen } = yield* startReporter((url) => {
        if (url.endsWith("/delete_requests/")) onPost()
        return 200
      }, yield* Effect.scope)
      // Each of the first four posts sees ten more refusals arrive while it is under way.
      onPost = () => {
        if (floodPosts-- <= 0) return
        for (let i = 0; i < 10; i++) metrics.unsafeSessionRejected({ requestIdx: next++, workload: 100 })
      }
      for (let i = 0; i < 1500; i++) yield* metrics.sessionRejected({ requestIdx: i, workload: 100 })
      yield* TestClock.adjust("1 second")
      const sizes = Effect.map(deletionPosts(seen), (posts) => posts.map((post) => [post.at, post.body.requests.length]))
      assert.deepStrictEqual(yield* sizes, [[1000, 1500]])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* sizes, [[1000, 1500], [2000, 10]])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* sizes, [[1000, 1500], [2000, 10], [3000, 10]])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* sizes, [[1000, 1500], [2000, 10], [3000, 10], [4000, 10]])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* sizes, [[1000, 1500], [2000, 10], [3000, 10], [4000, 10], [5000, 10]])
      assert.lengthOf(yield* pendingRecords(metrics, 10), 0)
    })
  )

  it.scoped("/delete_requests/ that the autoscaler refuses are kept and sent again on a later tick", () =>
    Effect.gen(function* () {
      let down = true
      const { metrics, seen } = yield* startReporter((url) => (url.endsWith("/delete_requests/") && down ? 500 : 200), yield* Effect.scope)
      yield* metrics.sessionOpened("s1", { requestIdx: 77, workload: 100 }, 0)
      yield* metrics.sessionClosed("s1", 10)
      yield* TestClock.adjust("8 seconds")
      assert.lengthOf(yield* pendingRecords(metrics, 10), 1)
      const refusedPosts = (yield* Ref.get(seen)).filter((r) => r.url.endsWith("/delete_requests/")).length
      down = false
      yield* TestClock.adjust("8 seconds")
      const after = (yield* Ref.get(seen)).filter((r) => r.url.endsWith("/delete_requests/")).slice(refusedPosts)
      assert.deepStrictEqual(after.map((post) => (post.body as { requests: Array<{ request_idx: number }> }).requests.map((r) => r.request_idx)), [[77]])
      assert.lengthOf(yield* pendingRecords(metrics, 10), 0)
    })
  )

  it.effect("shutdown sends one last report, after the loop's; the work is counted once", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { metrics, seen } = yield* startReporter(() => 200, scope)
      yield* metrics.sessionOpened("s1", { requestIdx: 1, workload: 100 }, 0)
      yield* TestClock.adjust("1 second")
      yield* metrics.sessionClosed("s1", 1000)
      yield* TestClock.adjust("0 millis")
      const before = yield* statuses(seen)
      assert.deepStrictEqual(before.map((s) => [s.at, s.body.cur_load, s.body.cur_perf]), [[0, 100, 0], [1000, 0, 100]])
      yield* advanceUntilDone(yield* Effect.fork(Scope.close(scope, Exit.void)), "10 millis")
      assert.deepStrictEqual((yield* statuses(seen)).slice(before.length).map((s) => [s.at, s.body.cur_load, s.body.cur_perf]), [[1000, 0, 0]])
    })
  )

  /** The `/delete_requests/` posts, decoded, with the address each went to. */
  const deletionPosts = (seen: Ref.Ref<ReadonlyArray<SeenRequest>>) =>
    Effect.map(Ref.get(seen), (all) =>
      all
        .filter((request) => request.url.endsWith("/delete_requests/"))
        .map((request) => ({ url: request.url, at: request.at, body: Schema.decodeUnknownSync(DeleteRequestsBody)(request.body) }))
    )
  const SKIPPED = "https://cloud.vast.ai/api/v0"

  it.scoped("/delete_requests/ never go to the one address the framework skips for them; with only that address they stay pending", () =>
    Effect.gen(function* () {
      const both = yield* startReporter(() => 200, yield* Effect.scope, [SKIPPED, A])
      yield* both.metrics.sessionOpened("s1", { requestIdx: 77, workload: 100 }, 0)
      yield* both.metrics.sessionClosed("s1", 10)
      yield* TestClock.adjust("2 seconds")
      assert.isTrue((yield* statuses(both.seen)).every((status) => status.url.startsWith(SKIPPED)))
      const posts = yield* deletionPosts(both.seen)
      assert.deepStrictEqual(posts.map((post) => [post.url, post.body.requests.map((record) => record.request_idx)]), [[`${A}/delete_requests/`, [77]]])
      const only = yield* startReporter(() => 200, yield* Effect.scope, [SKIPPED])
      yield* only.metrics.sessionOpened("s1", { requestIdx: 78, workload: 100 }, 0)
      yield* only.metrics.sessionClosed("s1", 10)
      yield* TestClock.adjust("3 seconds")
      assert.lengthOf(yield* deletionPosts(only.seen), 0)
      assert.lengthOf(yield* pendingRecords(only.metrics, 10), 1)
    })
  )

  it.scoped("with only the address the framework skips for /delete_requests/, their ticks post nothing and warn of nothing", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const { metrics, seen } = yield* startReporter(() => 200, yield* Effect.scope, [SKIPPED], logs.layer)
      yield* metrics.sessionOpened("s1", { requestIdx: 79, workload: 100 }, 0)
      yield* metrics.sessionClosed("s1", 10)
      yield* TestClock.adjust("5 seconds")
      assert.lengthOf(yield* deletionPosts(seen), 0)
      assert.isAbove((yield* statuses(seen)).length, 0)
      assert.deepStrictEqual(logs.lines.filter((line) => line.level === "WARN"), [])
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("stats and metrics count accepted and refused reports, and how long each took", () =>
    Effect.gen(function* () {
      let down = true
      const { prometheus, reporter, seen } = yield* startReporter(() => (down ? 503 : 200), yield* Effect.scope)
      // The first report is refused after three attempts 2 s apart (1 s → 7 s); the next one is tried at
      // once and its second attempt, at 9 s, is accepted.
      yield* TestClock.adjust("8 seconds")
      down = false
      yield* TestClock.adjust("1500 millis")
      const stats = yield* reporter.stats
      assert.deepStrictEqual([stats.accepted, stats.refused, stats.recentSeconds], [1, 1, [6, 2]])
      assert.strictEqual(yield* sample(prometheus, "null_worker_autoscaler_reports_total", { outcome: "accepted" }), 1)
      assert.strictEqual(yield* sample(prometheus, "null_worker_autoscaler_reports_total", { outcome: "refused" }), 1)
      assert.strictEqual(yield* sample(prometheus, "null_worker_autoscaler_report_seconds_sum"), 8)
      assert.deepStrictEqual((yield* statuses(seen)).map((status) => status.at), [1000, 3000, 5000, 7000, 9000])
      // What `stats` gave is a snapshot: the heartbeat's report, 10 s later, adds to the next one only.
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual([stats.recentSeconds, (yield* reporter.stats).recentSeconds], [[6, 2], [6, 2, 0]])
    })
  )

  it.effect("the last report is sent once, though the shutdown sequence and the finalizer both ask for it", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { reporter, seen } = yield* startReporter(() => 200, scope)
      yield* TestClock.adjust("1 second")
      const before = (yield* statuses(seen)).length
      yield* advanceUntilDone(yield* Effect.fork(reporter.finalReport), "10 millis")
      assert.lengthOf(yield* statuses(seen), before + 1)
      yield* advanceUntilDone(yield* Effect.fork(Scope.close(scope, Exit.void)), "10 millis")
      assert.lengthOf(yield* statuses(seen), before + 1)
    })
  )

  it.scoped("the last report waits for a report in flight and stops the loop: the work it reported is not counted twice", () =>
    Effect.gen(function* () {
      // Every /worker_status/ is answered 500 ms after it arrives.
      const { metrics, reporter, seen } = yield* startReporter((url) => (url.endsWith("/worker_status/") ? { status: 200, delayMs: 500 } : 200), yield* Effect.scope)
      yield* metrics.sessionOpened("s1", { requestIdx: 1, workload: 100 }, 0)
      yield* TestClock.adjust("0 millis")
      yield* metrics.sessionClosed("s1", 100)
      // The loop's report of the open session began at 0; the close asks for another at 500 (when the first is answered).
      yield* TestClock.adjust("600 millis")
      assert.deepStrictEqual((yield* statuses(seen)).map((s) => [s.at, s.body.cur_perf]), [[0, 0], [500, 100]])
      // Shutdown asks for the last report while the second is in flight: it waits for it, then reports nothing new.
      const last = yield* Effect.fork(reporter.finalReport)
      yield* advanceUntilDone(last)
      yield* TestClock.adjust("30 seconds")
      const all = yield* statuses(seen)
      assert.deepStrictEqual(all.map((s) => [s.at, s.body.cur_perf]), [[0, 0], [500, 100], [1000, 0]])
      assert.strictEqual(all.reduce((sum, s) => sum + s.body.cur_perf, 0), 100)
    })
  )

  it.scoped("the last report does not wait out the loop's retry pause: it goes at once, to the next address too, and the loop sends nothing after it", () =>
    Effect.gen(function* () {
      const { reporter, seen } = yield* startReporter((url) => (url.startsWith(A) ? 503 : 200), yield* Effect.scope, [A, B])
      // The loop's first attempt at A (1 s) is refused; its next is due at 3 s.
      yield* TestClock.adjust("1500 millis")
      yield* advanceUntilDone(yield* Effect.fork(reporter.finalReport))
      yield* TestClock.adjust("30 seconds")
      assert.deepStrictEqual((yield* statuses(seen)).map((s) => [s.url.startsWith(A) ? "A" : "B", s.at]), [["A", 1000], ["A", 1500], ["B", 1500]])
    })
  )

  it.scoped("the last report makes one quick try per address, without retry delays", () =>
    Effect.gen(function* () {
      const { reporter, seen } = yield* startReporter(() => 503, yield* Effect.scope, [A, B])
      const last = yield* Effect.fork(reporter.finalReport)
      yield* TestClock.adjust("0 millis")
      assert.isTrue(Option.isSome(yield* last.poll))
      assert.deepStrictEqual((yield* statuses(seen)).map((status) => [status.url, status.at]), [[`${A}/worker_status/`, 0], [`${B}/worker_status/`, 0]])
    })
  )

  it.scoped("the last report gives up within its 3 s when the autoscaler does not answer: its attempt's own timeout comes first, so the refusal is counted and said", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const { metrics, reporter } = yield* startReporter(() => "hang", yield* Effect.scope, [A], logs.layer)
      yield* metrics.markReady
      const last = yield* Effect.fork(reporter.finalReport)
      yield* TestClock.adjust("2949 millis")
      assert.isTrue(Option.isNone(yield* last.poll))
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(last)
      assert.strictEqual((yield* reporter.stats).refused, 1)
      assert.deepStrictEqual(logs.lines, [
        { level: "WARN", message: ["autoscaler did not accept /worker_status/", { causes: `${A}/worker_status/: no answer within 2s 950ms` }] },
        { level: "WARN", message: ["shutdown: the autoscaler did not get everything before exit", { last_worker_status: "not accepted", delete_requests_records_not_sent: 0 }] }
      ])
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("at exit, what the autoscaler did not get is said in one warning; after everything was delivered, nothing is", () =>
    Effect.gen(function* () {
      /** The shutdown warnings of a reporter whose autoscaler answers `answerFor`, after a closed session, a refusal and the last report. */
      const shutdownWarnings = (answerFor: (url: string) => Answer, addrs: ReadonlyArray<string> = [A], servedBefore = 0) => {
        const logs = capturedLogs()
        return Effect.gen(function* () {
          const { metrics, reporter } = yield* startReporter(answerFor, yield* Effect.scope, addrs, logs.layer)
          for (let i = 0; i < servedBefore; i++) yield* metrics.requestServed({ requestIdx: 100 + i, workload: 1 })
          yield* metrics.sessionOpened("s1", { requestIdx: 8, workload: 100 }, 0)
          yield* metrics.sessionClosed("s1", 0)
          yield* metrics.sessionRejected({ requestIdx: 9, workload: 100 })
          yield* advanceUntilDone(yield* Effect.fork(reporter.finalReport), "10 millis")
          return logs.lines.filter((line) => String(line.message[0]).startsWith("shutdown:"))
        }).pipe(Effect.provide(logs.layer), Effect.scoped)
      }
      assert.deepStrictEqual(yield* shutdownWarnings((url) => (url.endsWith("/delete_requests/") ? 503 : 200)), [
        { level: "WARN", message: ["shutdown: the autoscaler did not get everything before exit", { last_worker_status: "accepted", delete_requests_records_not_sent: 2 }] }
      ])
      assert.deepStrictEqual(yield* shutdownWarnings(() => 200), [])
      // Everything pending delivered, but closes' records dropped at the cap before (review 49 I2): said, with their count.
      assert.deepStrictEqual(yield* shutdownWarnings(() => 200, [A], MAX_PENDING_FINISHED + 1), [
        {
          level: "WARN",
          message: ["shutdown: the autoscaler did not get everything before exit", { last_worker_status: "accepted", delete_requests_records_not_sent: 0, delete_requests_finished_records_dropped: 2 }]
        }
      ])
      // Records no address is for (only the one the framework skips for them) were never to be sent: not lost.
      assert.deepStrictEqual(yield* shutdownWarnings(() => 200, [SKIPPED]), [])
    })
  )

  it.scoped("a worker that never got ready (a failed launch) has nothing lost to say at exit, its last report refused or not; once ready, it says it", () =>
    Effect.gen(function* () {
      const exitWarnings = (ready: boolean) => {
        const logs = capturedLogs()
        return Effect.gen(function* () {
          const { metrics, reporter } = yield* startReporter(() => 503, yield* Effect.scope, [A], logs.layer)
          if (ready) yield* metrics.markReady
          yield* advanceUntilDone(yield* Effect.fork(reporter.finalReport), "10 millis")
          return logs.lines.filter((line) => String(line.message[0]).startsWith("shutdown:")).map((line) => line.message[1])
        }).pipe(Effect.provide(logs.layer), Effect.scoped)
      }
      assert.deepStrictEqual(yield* exitWarnings(false), [])
      assert.deepStrictEqual(yield* exitWarnings(true), [{ last_worker_status: "not accepted", delete_requests_records_not_sent: 0 }])
    })
  )

  it.scoped("the last report shares its time among the addresses left: a first address that hangs gets half, a second that fails at once leaves its share to a third", () =>
    Effect.gen(function* () {
      const C = "http://127.0.0.1:9103"
      const { reporter, seen } = yield* startReporter((url) => (url.startsWith(A) ? "hang" : url.startsWith(B) ? 503 : { status: 200, delayMs: 1400 }), yield* Effect.scope, [A, B, C])
      // Shutdown at 200 ms, before the loop's first report (due at 1 s).
      yield* TestClock.adjust("200 millis")
      yield* advanceUntilDone(yield* Effect.fork(reporter.finalReport), "10 millis")
      // A: a third of (3,000 - 50) ms; B fails at once; C gets all that is left (1,966 ms) and answers after 1,400.
      const at = (yield* statuses(seen)).map((s) => [s.url.slice(0, A.length), s.at])
      assert.deepStrictEqual(at, [[A, 200], [B, 1183], [C, 1183]])
      assert.strictEqual((yield* reporter.stats).accepted, 1)
    })
  )

  it.scoped("a shutdown while the first address hangs: the last report and the pending /delete_requests/ reach the second address within the 3 s, each once", () =>
    Effect.gen(function* () {
      const { metrics, reporter, seen } = yield* startReporter((url) => (url.startsWith(A) ? "hang" : 200), yield* Effect.scope, [A, B])
      yield* metrics.sessionOpened("s1", { requestIdx: 41, workload: 100 }, 0)
      yield* metrics.sessionClosed("s1", 0)
      // The loop's report (at 0) and the deletion tick (at 1 s) both hang at A; shutdown comes at 1.5 s.
      yield* TestClock.adjust("1500 millis")
      const last = yield* Effect.fork(reporter.finalReport)
      // The attempts in flight get a third of the 3 s; then they are stopped and A, which did not answer, goes last.
      yield* TestClock.adjust("999 millis")
      assert.isTrue(Option.isNone(yield* last.poll))
      assert.lengthOf((yield* Ref.get(seen)).filter((request) => request.url.startsWith(B)), 0)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(last)
      const posts = (yield* Ref.get(seen)).map((request) => [request.url.startsWith(A) ? "A" : "B", request.url.slice(A.length), request.at])
      // The two go side by side, in either order.
      assert.deepStrictEqual(posts.slice(0, 2), [["A", "/worker_status/", 0], ["A", "/delete_requests/", 1000]])
      assert.sameDeepMembers(posts.slice(2), [["B", "/worker_status/", 2500], ["B", "/delete_requests/", 2500]])
      assert.deepStrictEqual((yield* deletionPosts(seen)).map((post) => post.body.requests.map((record) => record.request_idx)), [[41], [41]])
      assert.strictEqual((yield* metrics.deletionBacklog).finished, 0)
      // Nothing after it.
      yield* TestClock.adjust("1 minute")
      assert.lengthOf(yield* Ref.get(seen), 4)
    })
  )

  it.scoped("the address stopped as hung goes last with only what is left: a live second address slow to answer (1.5 s) still gets the last report", () =>
    Effect.gen(function* () {
      const { metrics, reporter, seen } = yield* startReporter((url) => (url.startsWith(A) ? "hang" : { status: 200, delayMs: 1500 }), yield* Effect.scope, [A, B])
      yield* metrics.sessionOpened("s1", { requestIdx: 1, workload: 100 }, 0)
      yield* TestClock.adjust("500 millis")
      yield* advanceUntilDone(yield* Effect.fork(reporter.finalReport), "10 millis")
      // Stopped at 1.5 s, A goes last; B gets the 1,950 ms left before A, and answers at 3 s.
      assert.deepStrictEqual((yield* statuses(seen)).map((s) => [s.url.startsWith(A) ? "A" : "B", s.at]), [["A", 0], ["B", 1500]])
      assert.strictEqual((yield* reporter.stats).accepted, 1)
    })
  )

  it.scoped("addresses not given up share the time left among themselves; the one given up gets what is left after them, its own timeout still first", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const C = "http://127.0.0.1:9103"
      // A hangs (the loop's report, in flight at shutdown, is given up); B answers after 1.2 s; C at once.
      const { metrics, reporter, seen } = yield* startReporter((url) => (url.startsWith(A) ? "hang" : url.startsWith(B) ? { status: 200, delayMs: 1200 } : 200), yield* Effect.scope, [A, B, C], logs.layer)
      yield* metrics.sessionOpened("s1", { requestIdx: 1, workload: 100 }, 0)
      yield* TestClock.adjust("500 millis")
      yield* advanceUntilDone(yield* Effect.fork(reporter.finalReport), "10 millis")
      // Stopped at 1.5 s; B and C share the 1,950 ms left: B's 975 ms run out before its answer, C takes it.
      assert.deepStrictEqual((yield* statuses(seen)).map((s) => [s.url.slice(0, A.length), s.at]), [[A, 0], [B, 1500], [C, 2475]])
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("the address given up, tried last after the others failed, gets all the time left, and its refusal is its own timeout's", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const { metrics, reporter } = yield* startReporter((url) => (url.startsWith(A) ? "hang" : 503), yield* Effect.scope, [A, B], logs.layer)
      yield* metrics.sessionOpened("s1", { requestIdx: 1, workload: 100 }, 0)
      yield* TestClock.adjust("500 millis")
      yield* advanceUntilDone(yield* Effect.fork(reporter.finalReport), "10 millis")
      assert.strictEqual((yield* reporter.stats).refused, 1)
      assert.deepStrictEqual(logs.lines[0], {
        level: "WARN",
        message: ["autoscaler did not accept /worker_status/", { causes: `${B}/worker_status/: status 503; ${A}/worker_status/: no answer within 1s 950ms` }]
      })
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("a shutdown during a run of /delete_requests/ batches stops the run at the next batch: the batch in flight is answered and acknowledged, the rest go in the last post, each record once", () =>
    Effect.gen(function* () {
      // Every /delete_requests/ is answered 300 ms after it arrives, at either address.
      const { metrics, reporter, seen } = yield* startReporter((url) => (url.endsWith("/delete_requests/") ? { status: 200, delayMs: 300 } : 200), yield* Effect.scope, [A, B])
      for (let i = 0; i < 35_000; i++) {
        metrics.unsafeSessionOpened(`s${i}`, { requestIdx: i, workload: 100 }, 0)
        metrics.unsafeSessionClosed(`s${i}`, 0)
      }
      // The tick at 1 s posts its first batch; shutdown comes while it is in flight.
      yield* TestClock.adjust("1100 millis")
      yield* advanceUntilDone(yield* Effect.fork(reporter.finalReport), "10 millis")
      const posts = (yield* deletionPosts(seen)).map((post) => [post.url.startsWith(A) ? "A" : "B", post.at, post.body.requests.length])
      // No batch after the one in flight, and no address on cool-down: the rest goes to A, in the last report's batches.
      assert.deepStrictEqual(posts, [["A", 1000, 10_000], ["A", 1300, 10_000], ["A", 1600, 10_000], ["A", 1900, 5_000]])
      const all = (yield* deletionPosts(seen)).flatMap((post) => post.body.requests.map((record) => record.request_idx))
      assert.strictEqual(new Set(all).size, 35_000)
      assert.strictEqual(all.length, 35_000)
    })
  )

  it.scoped("a shutdown while a slow autoscaler's answer is on its way waits for it, and the last report still goes out", () =>
    Effect.gen(function* () {
      // Answered 800 ms after it arrives: within the third of the budget the last report waits for an attempt in flight.
      const { metrics, reporter, seen } = yield* startReporter((url) => (url.endsWith("/worker_status/") ? { status: 200, delayMs: 800 } : 200), yield* Effect.scope, [A, B])
      yield* metrics.sessionOpened("s1", { requestIdx: 1, workload: 100 }, 0)
      yield* TestClock.adjust("100 millis")
      const last = yield* Effect.fork(reporter.finalReport)
      yield* advanceUntilDone(last, "10 millis")
      // The open session was reported once, to A, and acknowledged: the last report goes to A too, 800 ms after the first.
      assert.deepStrictEqual((yield* statuses(seen)).map((s) => [s.url.startsWith(A) ? "A" : "B", s.at, s.body.cur_load]), [["A", 0, 100], ["A", 800, 100]])
    })
  )

  it.scoped("the last report also sends the pending /delete_requests/", () =>
    Effect.gen(function* () {
      const { metrics, reporter, seen } = yield* startReporter(() => 200, yield* Effect.scope)
      yield* metrics.sessionOpened("s1", { requestIdx: 77, workload: 100 }, 0)
      yield* metrics.sessionClosed("s1", 0)
      yield* Fiber.join(yield* Effect.fork(reporter.finalReport))
      assert.deepStrictEqual((yield* deletionPosts(seen)).map((post) => [post.at, post.body.requests.map((record) => record.request_idx)]), [[0, [77]]])
    })
  )

  it.scoped("additional_disk_usage is the change in used disk since the last report, not the disk's size", () =>
    Effect.gen(function* () {
      const { seen } = yield* startReporter(() => 200, yield* Effect.scope)
      yield* TestClock.adjust("1 second")
      const [first] = yield* statuses(seen)
      assert.isBelow(Math.abs(first?.body.additional_disk_usage ?? Number.NaN), 1)
    })
  )

  it.scoped("an autoscaler that refuses is logged once as a warning with every cause, not at every retry", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      yield* startReporter((url) => (url.endsWith("/worker_status/") ? 503 : 200), yield* Effect.scope, [A], logs.layer)
      // Refused at 7 s (three attempts 2 s apart from 1 s), then again every 6 s: one line in the minute.
      yield* TestClock.adjust("30 seconds")
      const cause = `${A}/worker_status/: status 503`
      assert.deepStrictEqual(logs.lines, [{ level: "WARN", message: ["autoscaler did not accept /worker_status/", { causes: [cause, cause, cause].join("; ") }] }])
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("a delivery accepted after failed attempts (a failover) is logged as a warning naming both addresses, once a minute, and counted by path", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const { metrics, prometheus } = yield* startReporter((url) => (url.startsWith(A) ? 503 : 200), yield* Effect.scope, [A, B], logs.layer)
      yield* metrics.sessionOpened("s1", { requestIdx: 3, workload: 100 }, 0)
      yield* metrics.sessionClosed("s1", 0)
      // The report (A at 1, 3, 5 s, then B) and the deletions (A from 1 s, then B) fail over; A then cools down.
      yield* TestClock.adjust("30 seconds")
      const refused = `${A}/worker_status/: status 503`
      const refusedDeletions = `${A}/delete_requests/: status 503`
      assert.sameDeepMembers(logs.lines, [
        { level: "WARN", message: [`autoscaler accepted /worker_status/ at ${B}/worker_status/ after failed attempts`, { causes: [refused, refused, refused].join("; ") }] },
        { level: "WARN", message: [`autoscaler accepted /delete_requests/ at ${B}/delete_requests/ after failed attempts`, { causes: [refusedDeletions, refusedDeletions, refusedDeletions].join("; ") }] }
      ])
      assert.deepStrictEqual(
        [yield* sample(prometheus, "null_worker_autoscaler_failovers_total", { path: "/worker_status/" }), yield* sample(prometheus, "null_worker_autoscaler_failovers_total", { path: "/delete_requests/" })],
        [1, 1]
      )
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("the failover warning names the accepting address without its credentials or query", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const withSecrets = "http://user:secret@127.0.0.1:9102/base?token=t"
      yield* startReporter((url) => (url.startsWith(A) ? 503 : 200), yield* Effect.scope, [A, withSecrets], logs.layer)
      yield* TestClock.adjust("10 seconds")
      const text = JSON.stringify(logs.lines)
      assert.include(text, "autoscaler accepted /worker_status/ at http://127.0.0.1:9102/base/worker_status/?… after failed attempts")
      assert.notInclude(text, "secret")
      assert.notInclude(text, "token=t")
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("a 413 to a batch of one record is not halved again: one post per tick, and the halving is logged as a warning", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const { metrics, seen } = yield* startReporter((url) => (url.endsWith("/delete_requests/") ? 413 : 200), yield* Effect.scope, [A], logs.layer)
      metrics.unsafeSessionOpened("s1", { requestIdx: 1, workload: 100 }, 0)
      metrics.unsafeSessionClosed("s1", 10)
      metrics.unsafeSessionOpened("s2", { requestIdx: 2, workload: 100 }, 0)
      metrics.unsafeSessionClosed("s2", 10)
      yield* TestClock.adjust("3 seconds")
      // Tick 1: two records refused, then one (halved), refused, kept; ticks 2 and 3: one post of one record each.
      assert.deepStrictEqual((yield* deletionPosts(seen)).map((post) => [post.at, post.body.requests.length]), [[1000, 2], [1000, 1], [2000, 1], [3000, 1]])
      const halving = logs.lines.filter((line) => String(line.message[0]).includes("too large"))
      assert.deepStrictEqual(halving, [
        { level: "WARN", message: ["/delete_requests/: the autoscaler refused a batch as too large (413); sending smaller ones", { records: 2, now_at_most: 1 }] }
      ])
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("refused /delete_requests/ are logged once as a warning that names the path and every cause", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const { metrics } = yield* startReporter((url) => (url.endsWith("/delete_requests/") ? 503 : 200), yield* Effect.scope, [A], logs.layer)
      yield* metrics.sessionOpened("s1", { requestIdx: 80, workload: 100 }, 0)
      yield* metrics.sessionClosed("s1", 10)
      // The tick at 1 s makes three attempts 2 s apart; the record stays pending.
      yield* TestClock.adjust("7 seconds")
      const cause = `${A}/delete_requests/: status 503`
      assert.deepStrictEqual(
        logs.lines.filter((line) => line.level === "WARN"),
        [{ level: "WARN", message: ["autoscaler did not accept /delete_requests/", { causes: [cause, cause, cause].join("; ") }] }]
      )
      assert.lengthOf(yield* pendingRecords(metrics, 10), 1)
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("accepted and refused reports are counted under their own labels; nothing pending means no /delete_requests/", () =>
    Effect.gen(function* () {
      let down = false
      const { metrics, prometheus, seen } = yield* startReporter(() => (down ? 503 : 200), yield* Effect.scope)
      yield* TestClock.adjust("1 second")
      yield* metrics.markReady
      yield* TestClock.adjust("1 second")
      down = true
      yield* metrics.markErrored("x")
      yield* TestClock.adjust("7 seconds")
      assert.strictEqual(yield* sample(prometheus, "null_worker_autoscaler_reports_total", { outcome: "accepted" }), 2)
      assert.strictEqual(yield* sample(prometheus, "null_worker_autoscaler_reports_total", { outcome: "refused" }), 1)
      assert.lengthOf(yield* deletionPosts(seen), 0)
    })
  )

  it.scoped("a report loop that dies of a bug is started again: the heartbeats and deletions go on (review 54 L1)", () =>
    Effect.gen(function* () {
      const posts: Array<string> = []
      // The second post of each kind throws, as a bug in the post would.
      const buggy = Layer.succeed(AutoscalerPost, (url: string) =>
        Effect.suspend(() => {
          posts.push(url)
          return posts.filter((seen) => seen === url).length === 2 ? Effect.die(new TypeError("a bug")) : Effect.succeed(200)
        })
      )
      const { lines, layer: logLayer } = capturedLogs()
      const context = yield* Layer.build(
        AutoscalerReporter.DefaultWithoutDependencies.pipe(
          Layer.provideMerge(LoadMetrics.Default),
          Layer.provide(Layer.merge(buggy, WorkerMetrics.Default)),
          Layer.provide(testConfig({ reportAddrs: [A] })),
          Layer.provide(logLayer)
        )
      )
      const metrics = Context.get(context, LoadMetrics)
      yield* metrics.markReady
      for (let second = 0; second < 40; second++) {
        yield* metrics.sessionRejected({ requestIdx: second, workload: 100 })
        yield* TestClock.adjust("1 second")
      }
      const count = (path: string) => posts.filter((url) => url.endsWith(path)).length
      // A heartbeat every 10 s after the crash, not none.
      assert.isAtLeast(count("/worker_status/"), 5)
      assert.isAtLeast(count("/delete_requests/"), 5)
      const crashes = lines.filter((line) => String(line.message[0]).endsWith("crashed; starting it again in 1s"))
      assert.lengthOf(crashes, 2)
    })
  )

  it.scoped("the report times kept for stats are the last 1,000", () =>
    Effect.gen(function* () {
      // About a thousand reports: each accepted at once by a post that sends nothing (through the HTTP double this
      // test alone took 12 s, and over 30 s on a busy machine).
      const posts: Array<string> = []
      const accepted = Layer.succeed(AutoscalerPost, (url: string) => Effect.sync(() => (posts.push(url), 200)))
      const context = yield* Layer.build(
        AutoscalerReporter.layerWith({ firstReport: "0 millis", minSpacing: "0 millis", heartbeat: "1 millis" }).pipe(
          Layer.provide(accepted),
          Layer.provide(testConfig({ reportAddrs: [A] })),
          Layer.provide(quietLogs)
        )
      )
      yield* TestClock.adjust("1100 millis")
      const stats = yield* Context.get(context, AutoscalerReporter).stats
      assert.isAbove(stats.accepted, 1000)
      assert.strictEqual(posts.filter((url) => url.endsWith("/worker_status/")).length, stats.accepted)
      assert.lengthOf(stats.recentSeconds, 1000)
    }),
    // The suite's own bound, said here for the mutation run's config, whose default (5 s) this test can pass.
    { timeout: 60_000 }
  )
})
