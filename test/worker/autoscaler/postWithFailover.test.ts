import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type AddressInfo, createServer as createNetServer, type LookupFunction } from "node:net"
import { HttpClient, HttpClientError } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, Deferred, type Duration, Effect, Exit, Fiber, FiberId, Layer, Queue, Ref, TestClock } from "effect"
import { AutoscalerPost, type JsonPost, jsonPostFromHttpClient, makeNodeJsonPost } from "../../../src/worker/autoscaler/jsonPost.js"
import { ADDRESS_COOLDOWN_MS, addressOrder, type FailoverPolicy, makeAddressCooldown, postLatestWithFailover, postWithFailover } from "../../../src/worker/autoscaler/postWithFailover.js"
import { type Answer, routedClient } from "../../support/fakeHttpClient.js"

const A = "http://127.0.0.1:9101"
const B = "http://127.0.0.1:9102"
const policy: FailoverPolicy = { attempts: 2, retryDelay: "1 second", attemptTimeout: "5 seconds" }

/** `postWithFailover` over a routed client, run until it ends; the outcome and the requests' (url, time). */
const post = (answerFor: (url: string) => Answer, addrs: ReadonlyArray<string>, over: FailoverPolicy = policy) =>
  Effect.gen(function* () {
    const { layer, seen } = yield* routedClient(answerFor)
    const client = yield* Effect.provide(HttpClient.HttpClient, layer)
    const fiber = yield* Effect.fork(postWithFailover(jsonPostFromHttpClient(client), addrs, "/worker_status/", '{"id":1}', over))
    yield* TestClock.adjust("1 minute")
    const outcome = yield* Fiber.join(fiber)
    return { outcome, requests: (yield* Ref.get(seen)).map((request) => [request.url, request.at]) }
  })

/** The worker's own poster, its agents closed with the test's scope. */
const nodePoster = Effect.acquireRelease(Effect.sync(makeNodeJsonPost), (poster) => Effect.sync(poster.close))

/** A client whose every request fails in transport with `cause`. */
const failingWith = (cause: unknown) =>
  HttpClient.make((request) => Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause })))

describe("postWithFailover", () => {
  it.effect("addresses in order, each tried `attempts` times `retryDelay` apart; the first 2xx wins", () =>
    Effect.gen(function* () {
      const { outcome, requests } = yield* post((url) => (url.startsWith(A) ? 503 : 204), [A, B])
      assert.deepStrictEqual(outcome, { _tag: "Accepted", addr: B, causes: [`${A}/worker_status/: status 503`, `${A}/worker_status/: status 503`] })
      assert.deepStrictEqual(requests, [[`${A}/worker_status/`, 0], [`${A}/worker_status/`, 1000], [`${B}/worker_status/`, 2000]])
    })
  )

  it.effect("postLatestWithFailover makes the body again for every attempt, and answers what the accepted one was made of", () =>
    Effect.gen(function* () {
      const { layer, seen } = yield* routedClient((url) => (url.startsWith(A) ? 503 : 204))
      const client = yield* Effect.provide(HttpClient.HttpClient, layer)
      let made = 0
      const build = Effect.sync(() => {
        made++
        return { json: `{"attempt":${made}}`, value: made }
      })
      const fiber = yield* Effect.fork(postLatestWithFailover(jsonPostFromHttpClient(client), [A, B], "/worker_status/", build, policy))
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Accepted", addr: B, causes: [`${A}/worker_status/: status 503`, `${A}/worker_status/: status 503`], value: 3 })
      assert.deepStrictEqual((yield* Ref.get(seen)).map((request) => request.body), [{ attempt: 1 }, { attempt: 2 }, { attempt: 3 }])
    })
  )

  it.effect("with a cool-down, an address that failed a delivery is tried after the others for 5 minutes, then in the framework's order again", () =>
    Effect.gen(function* () {
      let bDown = false
      const { layer, seen } = yield* routedClient((url) => (url.startsWith(A) ? "hang" : bDown ? 503 : 204))
      const poster = jsonPostFromHttpClient(yield* Effect.provide(HttpClient.HttpClient, layer))
      const cooldown = makeAddressCooldown()
      const deliver = Effect.gen(function* () {
        const fiber = yield* Effect.fork(postLatestWithFailover(poster, [A, B], "/worker_status/", Effect.succeed({ json: "{}", value: 0 }), policy, { cooldown }))
        yield* TestClock.adjust("1 minute")
        return yield* Fiber.join(fiber)
      })
      const urls = Effect.map(Ref.getAndSet(seen, []), (requests) => requests.map((request) => request.url.slice(0, A.length)))
      // The first delivery waits out the hung first address, as the framework's would.
      assert.strictEqual((yield* deliver)._tag, "Accepted")
      assert.deepStrictEqual(yield* urls, [A, A, B])
      // The next ones go straight to the address that answered.
      assert.strictEqual((yield* deliver)._tag, "Accepted")
      assert.deepStrictEqual(yield* urls, [B])
      // When that one fails too, the address cooling down is still tried, after it.
      bDown = true
      assert.strictEqual((yield* deliver)._tag, "Refused")
      assert.deepStrictEqual(yield* urls, [B, B, A, A])
      // Five minutes after their last failures, the order is the framework's again.
      bDown = false
      yield* TestClock.adjust(ADDRESS_COOLDOWN_MS)
      assert.strictEqual((yield* deliver)._tag, "Accepted")
      assert.deepStrictEqual(yield* urls, [A, A, B])
    })
  )

  it("addressOrder: the addresses not cooling down in list order, then those cooling down in list order; a failure exactly 5 minutes old has cooled down", () => {
    const cooldown = makeAddressCooldown()
    assert.deepStrictEqual(addressOrder(3, undefined, 0), [0, 1, 2])
    assert.deepStrictEqual(addressOrder(3, cooldown, 0), [0, 1, 2])
    cooldown.failedAt.set(0, 1000)
    cooldown.failedAt.set(2, 500)
    assert.deepStrictEqual(addressOrder(3, cooldown, 500 + ADDRESS_COOLDOWN_MS - 1), [1, 0, 2])
    assert.deepStrictEqual(addressOrder(3, cooldown, 500 + ADDRESS_COOLDOWN_MS), [1, 2, 0])
    assert.deepStrictEqual(addressOrder(3, cooldown, 1000 + ADDRESS_COOLDOWN_MS), [0, 1, 2])
    assert.deepStrictEqual(addressOrder(0, cooldown, 0), [])
  })

  it.effect("a 413 does not put an address on cool-down (the body was too large, not the address at fault); an accepted delivery takes it off", () =>
    Effect.gen(function* () {
      const cooldown = makeAddressCooldown()
      let answer: Answer = 413
      const { layer } = yield* routedClient((url) => (url.startsWith(A) ? answer : 204))
      const poster = jsonPostFromHttpClient(yield* Effect.provide(HttpClient.HttpClient, layer))
      const deliver = Effect.gen(function* () {
        const fiber = yield* Effect.fork(postWithFailover(poster, [A, B], "/delete_requests/", "{}", policy, cooldown))
        yield* TestClock.adjust("1 minute")
        return yield* Fiber.join(fiber)
      })
      assert.deepStrictEqual(yield* deliver, { _tag: "Accepted", addr: B, causes: [`${A}/delete_requests/: status 413`] })
      assert.isFalse(cooldown.failedAt.has(0))
      answer = 503
      yield* deliver
      assert.isTrue(cooldown.failedAt.has(0))
      answer = 204
      yield* TestClock.adjust(ADDRESS_COOLDOWN_MS)
      assert.deepStrictEqual(yield* deliver, { _tag: "Accepted", addr: A, causes: [] })
      assert.isFalse(cooldown.failedAt.has(0))
      // A 413 at one address does not spare the next one that fails.
      const both = makeAddressCooldown()
      const { layer: second } = yield* routedClient((url) => (url.startsWith(A) ? 413 : 503))
      const failing = jsonPostFromHttpClient(yield* Effect.provide(HttpClient.HttpClient, second))
      const fiber = yield* Effect.fork(postWithFailover(failing, [A, B], "/delete_requests/", "{}", policy, both))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Fiber.join(fiber))._tag, "Refused")
      assert.deepStrictEqual([both.failedAt.has(0), both.failedAt.has(1)], [false, true])
    })
  )

  it.effect("a status heard before the attempt's time-out is its answer, though the body never ends: a 2xx is accepted (not sent again), another is that status", () =>
    Effect.gen(function* () {
      const posts: Array<number> = []
      const headThenNothing = (status: number): JsonPost => (_url, _json, onStatus) =>
        Effect.zipRight(Effect.sync(() => (posts.push(status), onStatus?.(status))), Effect.never)
      let acknowledged = 0
      const accepted = yield* Effect.fork(
        postLatestWithFailover(headThenNothing(200), [A], "/worker_status/", Effect.succeed({ json: "{}", value: 3 }), policy, {
          onAccepted: (value) => Effect.sync(() => void (acknowledged += value))
        })
      )
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* Fiber.join(accepted), { _tag: "Accepted", addr: A, causes: [], value: 3 })
      assert.deepStrictEqual([posts, acknowledged], [[200], 3])
      for (const status of [503, 300]) {
        const refused = yield* Effect.fork(postWithFailover(headThenNothing(status), [A], "/worker_status/", "{}", policy))
        yield* TestClock.adjust("1 minute")
        assert.deepStrictEqual(yield* Fiber.join(refused), {
          _tag: "Refused",
          causes: [`${A}/worker_status/: status ${status}`, `${A}/worker_status/: status ${status}`],
          tooLarge: false
        })
      }
    })
  )

  it.effect("an attempt stopped from outside: an answer already in is acknowledged first; one still awaited puts its address on cool-down", () =>
    Effect.gen(function* () {
      // The answer arrives in the same step as the stop.
      let stop: () => void = () => {}
      let acknowledged = 0
      const answersAsStopped: JsonPost = () => Effect.sync(() => (stop(), 200))
      const first = yield* Effect.fork(
        postLatestWithFailover(answersAsStopped, [A], "/worker_status/", Effect.succeed({ json: "{}", value: 7 }), policy, {
          onAccepted: (value) => Effect.sync(() => void (acknowledged += value))
        })
      )
      stop = () => first.unsafeInterruptAsFork(FiberId.none)
      yield* Fiber.await(first)
      assert.strictEqual(acknowledged, 7)
      // Stopped while the acknowledgment itself is under way (it yields): it still runs to its end.
      let ackSteps = 0
      let midAckStop: () => void = () => {}
      const midAck = yield* Effect.fork(
        postLatestWithFailover(() => Effect.succeed(200), [A], "/worker_status/", Effect.succeed({ json: "{}", value: 0 }), policy, {
          onAccepted: () => Effect.gen(function* () {
            ackSteps++
            midAckStop()
            yield* Effect.yieldNow()
            ackSteps++
          })
        })
      )
      midAckStop = () => midAck.unsafeInterruptAsFork(FiberId.none)
      yield* Fiber.await(midAck)
      assert.strictEqual(ackSteps, 2)
      // A status heard that is not a 2xx (a 503, a 300) is no acceptance: nothing acknowledged. Without a cool-down or an
      // acknowledgment to run, a stop is a plain interruption.
      const heardThenStopped = (status: number, hooks: Parameters<typeof postLatestWithFailover<number>>[5]) =>
        Effect.gen(function* () {
          const heard = yield* Deferred.make<void>()
          const post: JsonPost = (_url, _json, onStatus) => Effect.zipRight(Effect.sync(() => (onStatus?.(status), Deferred.unsafeDone(heard, Exit.void))), Effect.never)
          const fiber = yield* Effect.fork(postLatestWithFailover(post, [A], "/worker_status/", Effect.succeed({ json: "{}", value: 1 }), policy, hooks))
          yield* Deferred.await(heard)
          return yield* Fiber.interrupt(fiber)
        })
      let wronglyAcknowledged = 0
      for (const status of [503, 300]) {
        yield* heardThenStopped(status, { onAccepted: () => Effect.sync(() => void wronglyAcknowledged++) })
      }
      assert.strictEqual(wronglyAcknowledged, 0)
      const started = yield* Deferred.make<void>()
      const unanswered = yield* Effect.fork(
        postLatestWithFailover(() => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never), [A], "/worker_status/", Effect.succeed({ json: "{}", value: 1 }), policy)
      )
      yield* Deferred.await(started)
      for (const exit of [yield* heardThenStopped(200, {}), yield* Fiber.interrupt(unanswered)]) {
        assert.isTrue(Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause), String(exit))
      }
      // No answer yet when stopped: the address goes last for the next delivery.
      const cooldown = makeAddressCooldown()
      const second = yield* Effect.fork(postLatestWithFailover(() => Effect.never, [A, B], "/worker_status/", Effect.succeed({ json: "{}", value: 0 }), policy, { cooldown }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(second)
      assert.deepStrictEqual(addressOrder(2, cooldown, 1000), [1, 0])
    })
  )

  it.effect("without a cool-down every delivery starts at the first address (the framework's order)", () =>
    Effect.gen(function* () {
      const { layer, seen } = yield* routedClient((url) => (url.startsWith(A) ? 503 : 204))
      const poster = jsonPostFromHttpClient(yield* Effect.provide(HttpClient.HttpClient, layer))
      for (let i = 0; i < 2; i++) {
        const fiber = yield* Effect.fork(postWithFailover(poster, [A, B], "/worker_status/", "{}", { ...policy, attempts: 1 }))
        yield* TestClock.adjust("1 minute")
        assert.strictEqual((yield* Fiber.join(fiber))._tag, "Accepted")
      }
      assert.deepStrictEqual((yield* Ref.get(seen)).map((request) => request.url.slice(0, A.length)), [A, B, A, B])
    })
  )

  it.effect("refused everywhere: one cause per attempt, naming the address and the status or the silence", () =>
    Effect.gen(function* () {
      const { outcome } = yield* post((url) => (url.startsWith(A) ? 500 : "hang"), [A, B], { ...policy, attempts: 1 })
      assert.deepStrictEqual(outcome, { _tag: "Refused", causes: [`${A}/worker_status/: status 500`, `${B}/worker_status/: no answer within 5s`] , tooLarge: false })
    })
  )

  it.effect("an address with credentials and a query: the path goes before the query, and no cause shows either", () =>
    Effect.gen(function* () {
      const secret = "http://user:s3cret@127.0.0.1:9103/base/?token=t0ken"
      const { outcome, requests } = yield* post(() => 500, [secret], { ...policy, attempts: 1 })
      assert.deepStrictEqual(requests, [["http://user:s3cret@127.0.0.1:9103/base/worker_status/?token=t0ken", 0]])
      assert.deepStrictEqual(outcome, { _tag: "Refused", causes: ["http://127.0.0.1:9103/base/worker_status/?…: status 500"] , tooLarge: false })
    })
  )

  it.effect("a 413 goes to the next address at once (the same body is refused again), and says the body was too large", () =>
    Effect.gen(function* () {
      const { outcome, requests } = yield* post((url) => (url.startsWith(A) ? 413 : 503), [A, B], { ...policy, attempts: 3, retryDelay: "2 seconds" })
      assert.deepStrictEqual(requests, [[`${A}/worker_status/`, 0], [`${B}/worker_status/`, 0], [`${B}/worker_status/`, 2000], [`${B}/worker_status/`, 4000]])
      assert.isTrue(outcome._tag === "Refused" && outcome.tooLarge)
    })
  )

  it.effect("a 3xx is not an acceptance", () =>
    Effect.gen(function* () {
      const { outcome } = yield* post(() => 300, [A], { ...policy, attempts: 1 })
      assert.deepStrictEqual(outcome, { _tag: "Refused", causes: [`${A}/worker_status/: status 300`] , tooLarge: false })
    })
  )

  it.effect("without a retry delay the attempts follow each other at once", () =>
    Effect.gen(function* () {
      const { requests } = yield* post(() => 503, [A], { ...policy, retryDelay: 0 })
      assert.deepStrictEqual(requests, [[`${A}/worker_status/`, 0], [`${A}/worker_status/`, 0]])
    })
  )

  it.effect("a transport error is named by the errno found up to five causes deep, else \"transport error\" (never its message, which names the URL)", () =>
    Effect.gen(function* () {
      const causeOf = (cause: unknown) =>
        Effect.map(postWithFailover(jsonPostFromHttpClient(failingWith(cause)), [A], "/worker_status/", "{}", { ...policy, attempts: 1, retryDelay: 0 }), (outcome) =>
          outcome._tag === "Refused" ? outcome.causes[0] : "accepted"
        )
      assert.strictEqual(yield* causeOf({ code: "ECONNREFUSED" }), `${A}/worker_status/: ECONNREFUSED`)
      assert.strictEqual(yield* causeOf({ cause: { cause: { cause: { cause: { code: "ECONNRESET" } } } } }), `${A}/worker_status/: ECONNRESET`)
      assert.strictEqual(yield* causeOf({ cause: { cause: { cause: { cause: { cause: { code: "EPIPE" } } } } } }), `${A}/worker_status/: EPIPE`)
      assert.strictEqual(yield* causeOf({ cause: { cause: { cause: { cause: { cause: { cause: { code: "EPIPE" } } } } } } }), `${A}/worker_status/: transport error`)
      assert.strictEqual(yield* causeOf({ code: 111 }), `${A}/worker_status/: transport error`)
      assert.strictEqual(yield* causeOf(new Error("socket hang up")), `${A}/worker_status/: transport error`)
    })
  )

  // On TestClock: no timeout can fire, so each post must end on the answer's own events (a drain that never
  // heard its body's end would hang the test).
  it.effect("reports reuse one connection: the answer's body is read so the connection goes back to the pool", () =>
    Effect.gen(function* () {
      let connections = 0
      const server = createServer((request, response) => {
        request.resume()
        request.on("end", () => response.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'))
      })
      server.on("connection", () => connections++)
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => server.close())
      )
      const addr = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const poster = yield* nodePoster
      const outcomes = []
      for (let i = 0; i < 3; i++) outcomes.push(yield* postWithFailover(poster.post, [addr], "/worker_status/", JSON.stringify({ i }), { ...policy, attempts: 1 }))
      assert.deepStrictEqual(outcomes.map((outcome) => outcome._tag), ["Accepted", "Accepted", "Accepted"])
      assert.strictEqual(connections, 1)
    }).pipe(Effect.scoped)
  )

  it.effect("the body arrives as a POST of JSON with its type and exact byte length, non-ASCII text included, and is sent again as it was on a retry", () =>
    Effect.gen(function* () {
      const received: Array<{ method: string | undefined; type: string | undefined; length: string | undefined; text: string }> = []
      const server = createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          received.push({ method: request.method, type: request.headers["content-type"], length: request.headers["content-length"], text: Buffer.concat(chunks).toString("utf8") })
          // The first attempt is refused: the retry must carry the same bytes.
          response.writeHead(received.length === 1 ? 503 : 200).end()
        })
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => server.close())
      )
      const addr = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const body = { error_msg: "santé: ✓ 日本", requests: [{ request_idx: 1, entered_queue_at: 1795941971.409 }] }
      const poster = yield* nodePoster
      const outcome = yield* postWithFailover(poster.post, [addr], "/delete_requests/", JSON.stringify(body), { attempts: 2, retryDelay: 0, attemptTimeout: "5 seconds" })
      assert.strictEqual(outcome._tag, "Accepted")
      const expected = JSON.stringify(body)
      assert.deepStrictEqual(received, [
        { method: "POST", type: "application/json", length: String(Buffer.byteLength(expected)), text: expected },
        { method: "POST", type: "application/json", length: String(Buffer.byteLength(expected)), text: expected }
      ])
    }).pipe(Effect.scoped)
  )
})

describe("makeNodeJsonPost (the worker's poster)", () => {
  /** `server` listening on loopback until the scope closes, and its address. */
  const listening = (server: Server, scheme: "http" | "https") =>
    Effect.acquireRelease(
      Effect.async<Server>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))),
      () => Effect.sync(() => server.close())
    ).pipe(Effect.map(() => ({ server, addr: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}` })))
  /** A loopback HTTP server; `handle` gets each request. */
  const serverWith = (handle: (request: IncomingMessage, response: ServerResponse) => void) => listening(createServer(handle), "http")
  /** One attempt of a report to `addr` through the worker's poster. */
  const postOnce = (addr: string, attemptTimeout: Duration.DurationInput = "5 seconds") =>
    Effect.flatMap(nodePoster, (poster) => postWithFailover(poster.post, [addr], "/worker_status/", "{}", { attempts: 1, retryDelay: 0, attemptTimeout }))

  it.effect("an https address is posted over TLS (a self-signed certificate is refused, by its code)", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "jsonpost-tls-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" })
      const { addr } = yield* listening(
        createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (_request, response) => response.end()),
        "https"
      )
      const outcome = yield* postOnce(addr)
      assert.deepStrictEqual(outcome, { _tag: "Refused", causes: [`${addr}/worker_status/: DEPTH_ZERO_SELF_SIGNED_CERT`] , tooLarge: false })
    }).pipe(Effect.scoped)
  )

  it.effect("a 307 or 308 is followed with the same method and body, and the status heard is the last one's (probe 50 L2)", () =>
    Effect.gen(function* () {
      const got: Array<[string, string, string]> = []
      const { addr } = yield* serverWith((request, response) => {
        let body = ""
        request.on("data", (chunk: Buffer) => void (body += chunk.toString()))
        request.on("end", () => {
          got.push([request.method ?? "", request.url ?? "", body])
          if (request.url === "/worker_status/") response.writeHead(308, { location: "/moved/" }).end("moved")
          else if (request.url === "/moved/") response.writeHead(307, { location: "/there/" }).end()
          else response.end("{}")
        })
      })
      const heard: Array<number> = []
      const poster = makeNodeJsonPost()
      yield* Effect.addFinalizer(() => Effect.sync(poster.close))
      assert.strictEqual(yield* poster.post(`${addr}/worker_status/`, '{"a":1}', (status) => void heard.push(status)), 200)
      assert.deepStrictEqual(got, [["POST", "/worker_status/", '{"a":1}'], ["POST", "/moved/", '{"a":1}'], ["POST", "/there/", '{"a":1}']])
      assert.deepStrictEqual(heard, [200])
    }).pipe(Effect.scoped)
  )

  it.effect("close() ends the kept connections; so does closing the layer's scope", () =>
    Effect.gen(function* () {
      const closed = yield* Queue.unbounded<void>()
      const { addr } = yield* serverWith((request, response) => {
        request.socket.once("close", () => Queue.unsafeOffer(closed, undefined))
        request.resume()
        request.on("end", () => response.end("{}"))
      })
      const poster = makeNodeJsonPost()
      assert.strictEqual(yield* poster.post(`${addr}/worker_status/`, "{}"), 200)
      poster.close()
      yield* Queue.take(closed)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const context = yield* Layer.build(AutoscalerPost.node)
          assert.strictEqual(yield* Context.get(context, AutoscalerPost)(`${addr}/worker_status/`, "{}"), 200)
        })
      )
      yield* Queue.take(closed)
    }).pipe(Effect.scoped)
  )

  it.effect("an attempt stopped after the 2xx status line but before the body ends was answered: what it carried is acknowledged, and the address is not cooled down", () =>
    Effect.gen(function* () {
      // The status line goes out at once; the body never ends.
      const { addr } = yield* serverWith((request, response) => {
        request.resume()
        request.on("end", () => {
          response.writeHead(200, { "content-type": "application/json" })
          response.write("{")
        })
      })
      const poster = yield* nodePoster
      const heard = yield* Deferred.make<number>()
      const watched: JsonPost = (url, json, onStatus) =>
        poster.post(url, json, (status) => {
          onStatus?.(status)
          Deferred.unsafeDone(heard, Exit.succeed(status))
        })
      let acknowledged = 0
      const cooldown = makeAddressCooldown()
      const delivery = yield* Effect.fork(
        postLatestWithFailover(watched, [addr], "/worker_status/", Effect.succeed({ json: "{}", value: 5 }), { attempts: 1, retryDelay: 0, attemptTimeout: "5 seconds" }, {
          cooldown,
          onAccepted: (value) => Effect.sync(() => void (acknowledged += value))
        })
      )
      assert.strictEqual(yield* Deferred.await(heard), 200)
      yield* Fiber.interrupt(delivery)
      assert.deepStrictEqual([acknowledged, cooldown.failedAt.size], [5, 0])
    }).pipe(Effect.scoped)
  )

  it.effect("a 101 is an answer like any other status, heard at once (not an attempt's time-out); the connection it took over is closed (probe 54 #5)", () =>
    Effect.gen(function* () {
      const closed = yield* Deferred.make<void>()
      const server = createNetServer((socket) => {
        socket.once("close", () => Deferred.unsafeDone(closed, Exit.void))
        socket.once("data", () => socket.write("HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n"))
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => server.close())
      )
      const addr = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      // Under the TestClock the attempt's time-out never comes: only the answer ends the wait.
      assert.deepStrictEqual(yield* postOnce(addr, "30 seconds"), { _tag: "Refused", causes: [`${addr}/worker_status/: status 101`], tooLarge: false })
      yield* Deferred.await(closed)
    }).pipe(Effect.scoped)
  )

  it.effect("a kept connection the server reset before answering: the post goes once more on a new one, and only once (probe 57 #4)", () =>
    Effect.gen(function* () {
      let connections = 0
      /** Each connection: its first request answered and kept, its second reset unanswered; `resetAll` resets every one. */
      const serverResetting = (resetAll: boolean) =>
        createNetServer((socket) => {
          connections += 1
          let requests = 0
          socket.on("data", () => {
            requests += 1
            if (resetAll || requests > 1) socket.resetAndDestroy()
            else socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n{}")
          })
        })
      const listen = (server: ReturnType<typeof createNetServer>) =>
        Effect.acquireRelease(
          Effect.async<string>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.succeed(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)))),
          () => Effect.sync(() => server.close())
        )
      // Named by a name only the lookup it is given knows: the post sent again finds it the same way.
      const served = new URL(yield* listen(serverResetting(false)))
      const addr = `http://reset-probe57:${served.port}`
      const poster = makeNodeJsonPost(((hostname: string, options: { readonly all?: boolean }, done: (...answer: Array<unknown>) => void) =>
        hostname === "reset-probe57" ? process.nextTick(() => (options.all === true ? done(null, [{ address: "127.0.0.1", family: 4 }]) : done(null, "127.0.0.1", 4))) : done(new Error(`no lookup of ${hostname}`))) as unknown as LookupFunction)
      yield* Effect.addFinalizer(() => Effect.sync(poster.close))
      assert.strictEqual(yield* poster.post(`${addr}/worker_status/`, "{}"), 200)
      assert.strictEqual(yield* poster.post(`${addr}/worker_status/`, "{}"), 200)
      assert.strictEqual(connections, 2)
      // Two kept at once (a report and a deletion batch), both reset: once more on a new connection, not the other
      // stale one (review 64 #1).
      connections = 0
      assert.deepStrictEqual(yield* Effect.all([poster.post(`${addr}/worker_status/`, "{}"), poster.post(`${addr}/delete_requests/`, "{}")], { concurrency: 2 }), [200, 200])
      assert.strictEqual(connections, 2)
      assert.strictEqual(yield* poster.post(`${addr}/worker_status/`, "{}"), 200)
      assert.strictEqual(connections, 3)
      // A first connection reset: an answer of its own, not sent again.
      const other = yield* listen(serverResetting(true))
      connections = 0
      assert.strictEqual((yield* Effect.flip(poster.post(`${other}/worker_status/`, "{}"))).reason, "ECONNRESET")
      assert.strictEqual(connections, 1)
    }).pipe(Effect.scoped)
  )

  it.effect("an address that is not a URL is refused as such, without a request", () =>
    Effect.gen(function* () {
      const outcome = yield* postOnce("not a url")
      assert.deepStrictEqual(outcome, { _tag: "Refused", causes: ["<invalid URL>: invalid address"] , tooLarge: false })
    }).pipe(Effect.scoped)
  )

  it.live("a refused connection is named by its errno", () =>
    Effect.gen(function* () {
      const { addr, server } = yield* serverWith(() => {})
      yield* Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      const outcome = yield* postOnce(addr)
      assert.deepStrictEqual(outcome, { _tag: "Refused", causes: [`${addr}/worker_status/: ECONNREFUSED`] , tooLarge: false })
    }).pipe(Effect.scoped)
  )

  it.effect("an attempt without an answer is given up at attemptTimeout and its connection closed", () =>
    Effect.gen(function* () {
      const arrived = yield* Deferred.make<void>()
      const closed = yield* Deferred.make<void>()
      const { addr } = yield* serverWith((request) => {
        request.socket.once("close", () => Deferred.unsafeDone(closed, Exit.void))
        Deferred.unsafeDone(arrived, Exit.void)
      })
      const fiber = yield* Effect.fork(postOnce(addr, "3 seconds"))
      yield* Deferred.await(arrived)
      yield* TestClock.adjust("3 seconds")
      assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Refused", causes: [`${addr}/worker_status/: no answer within 3s`] , tooLarge: false })
      yield* Deferred.await(closed)
    }).pipe(Effect.scoped)
  )

  it.effect("a 2xx whose body never ends counts once its status arrives; after the drain timeout the connection is closed, not reused", () =>
    Effect.gen(function* () {
      const closed = yield* Deferred.make<void>()
      const { addr } = yield* serverWith((request, response) => {
        request.socket.once("close", () => Deferred.unsafeDone(closed, Exit.void))
        request.resume()
        request.on("end", () => {
          response.writeHead(200, { "content-length": 100 })
          response.write("{")
        })
      })
      const fiber = yield* Effect.fork(postOnce(addr, "30 seconds"))
      // The status arrives over real I/O; the drain then waits on the (test) clock.
      while (fiber.unsafePoll() === null) {
        yield* TestClock.adjust("500 millis")
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      }
      assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Accepted", addr, causes: [] })
      yield* Deferred.await(closed)
    }).pipe(Effect.scoped)
  )

  it.effect("a 2xx whose body never stops coming is read no further than 64 KiB: the connection is closed then, not after the drain time", () =>
    Effect.gen(function* () {
      const closed = yield* Deferred.make<number>()
      const { addr } = yield* serverWith((request, response) => {
        let written = 0
        const chunk = Buffer.alloc(16 * 1024, "x")
        request.socket.once("close", () => Deferred.unsafeDone(closed, Exit.succeed(written)))
        request.resume()
        request.on("end", () => {
          response.writeHead(200)
          const more = () => {
            while (!response.destroyed && response.write(chunk)) written += chunk.length
            if (!response.destroyed) response.once("drain", more)
          }
          more()
        })
      })
      // Under the TestClock the drain's time-out never comes: only the byte bound ends the read.
      assert.deepStrictEqual(yield* postOnce(addr, "30 seconds"), { _tag: "Accepted", addr, causes: [] })
      const written = yield* Deferred.await(closed)
      assert.isBelow(written, 16 * 1024 * 1024)
    }).pipe(Effect.scoped)
  )
})

