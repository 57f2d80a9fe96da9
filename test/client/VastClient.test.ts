import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Layer, Option, Random, Redacted, Ref, TestClock } from "effect"
import { ROUTE_ATTEMPTS } from "../../src/client/backoff.js"
import { type Endpoint, localControlPlaneHint, type ReserveProgress, type Session, tidyTransportMessage, VastClient } from "../../src/client/VastClient.js"
import { ENDPOINT_KEY, ENDPOINT_NAME, USER_KEY } from "./fakeControlPlane.js"
import { type FakeAnswer, type SeenRequest, fakeHttp, field } from "./fakeHttp.js"

const WEBSERVER = "https://console.test"
const AUTOSCALER = "https://run.test"
const W1 = "https://203.0.113.7:41234"
const W2 = "https://203.0.113.8:41235"

const endpoint: Endpoint = { id: 2, name: ENDPOINT_NAME, apiKey: Redacted.make(ENDPOINT_KEY) }

const ready = (url: string, requestIdx: number) => ({
  url,
  signature: "c2lnbmF0dXJl",
  reqnum: 917,
  request_idx: requestIdx,
  endpoint: ENDPOINT_NAME,
  cost: 100,
  __request_id: "r-1"
})
const waiting = (requestIdx?: number) => ({
  endpoint: ENDPOINT_NAME,
  status: { loaded: 0, cold: 1 },
  ...(requestIdx === undefined ? {} : { request_idx: requestIdx })
})
const created = (id: string) => ({ status: 201, body: { session_id: id, expiration: 1_000_060 } })

const session: Session = {
  sessionId: "abcdefghijklm",
  url: W1,
  authData: ready(W1, 42),
  expiration: 60,
  lifetime: 60,
  requestIdx: 42
}

/** A VastClient over a fake HttpClient that answers with `respond`. */
const clientWith = (respond: (request: SeenRequest, index: number) => FakeAnswer, urls = { webserverUrl: WEBSERVER, autoscalerUrl: AUTOSCALER }) =>
  Effect.gen(function* () {
    const http = yield* fakeHttp(respond)
    const client = yield* Effect.provide(
      VastClient,
      VastClient.layer({ apiKey: Redacted.make(USER_KEY), ...urls }).pipe(
        Layer.provide(http.layer)
      )
    )
    const requests = (path: string) => Effect.map(Ref.get(http.seen), (all) => all.filter((request) => request.path === path))
    return { client, seen: http.seen, requests }
  })

/** Answers each path from its own script; the last answer of a script repeats. */
const byPath =
  (scripts: Record<string, ReadonlyArray<FakeAnswer>>) =>
  (request: SeenRequest): FakeAnswer => {
    const key = Object.keys(scripts).find((path) => request.url.startsWith(path)) ?? ""
    const script = scripts[key] ?? [{ status: 404 }]
    const count = (counters.get(script) ?? 0) + 1
    counters.set(script, count)
    return script[Math.min(count, script.length) - 1] ?? { status: 404 }
  }
const counters = new WeakMap<ReadonlyArray<FakeAnswer>, number>()

const progressLog = () =>
  Effect.map(Ref.make<ReadonlyArray<ReserveProgress>>([]), (log) => ({
    log,
    onProgress: (progress: ReserveProgress) => Ref.update(log, (all) => [...all, progress])
  }))

const reserveOptions = { endpoint, cost: 100, lifetime: 60, onCloseRoute: null, onClosePayload: null }

const SEED = "null-worker"
const seeded = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withRandom(effect, Random.make(SEED))
const millis = (seconds: number) => Math.round(seconds * 1000)

describe("localControlPlaneHint", () => {
  it("names the flag of the address that refused: --webserver-url for the lookup, --autoscaler-url for routing", () => {
    assert.include(localControlPlaneHint("endpoint lookup"), "point --webserver-url at a running one")
    assert.include(localControlPlaneHint("route"), "point --autoscaler-url at a running one")
  })
})

describe("VastClient.findEndpoint", () => {
  it.effect("picks the exact name, asking the webserver with the user's key as a Bearer token only", () =>
    Effect.gen(function* () {
      const { client, seen } = yield* clientWith(() => ({
        status: 200,
        body: {
          results: [
            { id: 1, endpoint_name: `${ENDPOINT_NAME}-other`, api_key: "other", user_id: 9, created_at: 0 },
            { id: 2, endpoint_name: ENDPOINT_NAME, api_key: ENDPOINT_KEY, user_id: 9, created_at: 0, max_workers: 3 }
          ]
        }
      }))
      const found = yield* client.findEndpoint(ENDPOINT_NAME)
      assert.deepStrictEqual([found.id, found.name, Redacted.value(found.apiKey)], [2, ENDPOINT_NAME, ENDPOINT_KEY])
      const [request] = yield* Ref.get(seen)
      assert.strictEqual(request?.method, "GET")
      assert.strictEqual(request?.url, `${WEBSERVER}/api/v0/endptjobs/?client_id=me`)
      assert.strictEqual(request?.headers["authorization"], `Bearer ${USER_KEY}`)
    })
  )

  it.effect("fails with EndpointNotFound when no name matches exactly", () =>
    Effect.gen(function* () {
      const { client } = yield* clientWith(() => ({
        status: 200,
        body: { results: [{ id: 1, endpoint_name: `${ENDPOINT_NAME}-other`, api_key: "other" }] }
      }))
      const error = yield* Effect.flip(client.findEndpoint(ENDPOINT_NAME))
      assert.strictEqual(error._tag, "EndpointNotFound")
      // The names there are are said, so that a typo shows.
      assert.strictEqual(error.message, `endpoint "${ENDPOINT_NAME}" could not be found among your endpoints (yours: "${ENDPOINT_NAME}-other")`)
    })
  )

  it.effect("EndpointNotFound names at most ten of the user's endpoints, escaped, with how many there are; none: says so", () =>
    Effect.gen(function* () {
      const names = ["evil\u001b[2J", ...Array.from({ length: 11 }, (_, i) => `e${i}`)]
      const many = yield* clientWith(() => ({ status: 200, body: { results: names.map((endpoint_name, id) => ({ id, endpoint_name, api_key: "k" })) } }))
      const error = yield* Effect.flip(many.client.findEndpoint("nope"))
      assert.strictEqual(
        error.message,
        `endpoint "nope" could not be found among your endpoints (yours: "evil\\x1b[2J", ${names.slice(1, 10).map((name) => `"${name}"`).join(", ")}, … (12 in all))`
      )
      const none = yield* clientWith(() => ({ status: 200, body: { results: [] } }))
      assert.strictEqual((yield* Effect.flip(none.client.findEndpoint("nope"))).message, 'endpoint "nope" could not be found among your endpoints (you have none)')
    })
  )

  it.effect("a body that does not decode (not JSON, nested too deep, a field missing), or a non-2xx, is an UnexpectedResponse", () =>
    Effect.gen(function* () {
      const missingKey = yield* clientWith(() => ({ status: 200, body: { results: [{ id: 2, endpoint_name: ENDPOINT_NAME }] } }))
      const decodeError = yield* Effect.flip(missingKey.client.findEndpoint(ENDPOINT_NAME))
      assert.strictEqual(decodeError._tag, "UnexpectedResponse")
      if (decodeError._tag === "UnexpectedResponse") assert.include(decodeError.detail, "api_key")
      const notJson = yield* clientWith(() => ({ status: 200, body: "<html>" }))
      assert.strictEqual((yield* Effect.flip(notJson.client.findEndpoint(ENDPOINT_NAME)))._tag, "UnexpectedResponse")
      // Nested past 64 levels: refused as an answer, before Schema's message walks it (that overflowed the stack once).
      const deep = `{"results":[{"id":2,"endpoint_name":"${ENDPOINT_NAME}","api_key":${"[".repeat(20_000)}${"]".repeat(20_000)}}]}`
      const tooDeep = yield* Effect.flip((yield* clientWith(() => ({ status: 200, body: deep }))).client.findEndpoint(ENDPOINT_NAME))
      assert.deepInclude(tooDeep, { _tag: "UnexpectedResponse", detail: "body: JSON nested deeper than 64 levels" })
      const refused = yield* clientWith(() => ({ status: 401, body: { detail: "bad key" } }))
      const error = yield* Effect.flip(refused.client.findEndpoint(ENDPOINT_NAME))
      assert.deepInclude(error, { _tag: "UnexpectedResponse", operation: "endpoint lookup", status: 401 })
      // The key is the user's setting: the message says which (newcomer 23 #3); another refusal names none.
      assert.match(error.message, /answered 401: \{"detail":"bad key"\} \(check VAST_API_KEY; the local serverless takes its --api-key or SERVERLESS_API_KEY\)$/)
      const broken = yield* Effect.flip((yield* clientWith(() => ({ status: 500, body: { detail: "oops" } }))).client.findEndpoint(ENDPOINT_NAME))
      assert.notInclude(broken.message, "VAST_API_KEY")
      // Another server's page is said as one, with its title, not echoed (newcomer 40 #7).
      const page = "<!DOCTYPE HTML>\n<html lang=\"en\"><head><title>Error response</title></head><body>404</body></html>"
      const elsewhere = yield* Effect.flip((yield* clientWith(() => ({ status: 404, body: page }))).client.findEndpoint(ENDPOINT_NAME))
      assert.match(elsewhere.message, /answered 404: a web page \("Error response"\), not an answer of Vast's API or of the local serverless: another server answers at this address$/)
      const untitled = yield* Effect.flip((yield* clientWith(() => ({ status: 200, body: "<html><body>hi</body></html>" }))).client.findEndpoint(ENDPOINT_NAME))
      assert.match(untitled.message, /answered 200: a web page, not an answer/)
    })
  )
})

describe("VastClient.reserve: routing", () => {
  it.effect("polls while waiting, keeps the returned request_idx, and waits 1 s, then uniform(0.1, min(2^n + U, 5)) s", () =>
    Effect.gen(function* () {
      const { client, requests } = yield* clientWith(
        byPath({
          [`${AUTOSCALER}/route/`]: [
            { status: 200, body: waiting() },
            { status: 200, body: waiting(42) },
            { status: 200, body: waiting() },
            { status: 200, body: ready(W1, 42) }
          ],
          [`${W1}/session/create`]: [created("s-1")]
        })
      )
      const { log, onProgress } = yield* progressLog()
      const fiber = yield* Effect.fork(seeded(client.reserve({ ...reserveOptions, timeout: "5 minutes", onProgress })))
      yield* TestClock.adjust("1 minute")
      const reserved = yield* Fiber.join(fiber)
      assert.deepStrictEqual([reserved.sessionId, reserved.url, reserved.requestIdx], ["s-1", W1, 42])
      assert.deepStrictEqual(reserved.authData, ready(W1, 42))

      const routes = yield* requests("/route/")
      assert.deepStrictEqual(routes.map((route) => field(route.body, "request_idx")), [0, 0, 42, 42])
      assert.deepStrictEqual(routes[0]?.body, {
        endpoint: ENDPOINT_NAME,
        api_key: ENDPOINT_KEY,
        cost: 100,
        request_idx: 0,
        replay_timeout: 60
      })
      // The same draws, made independently from the same seed.
      const [d1, d2] = yield* seeded(
        Effect.gen(function* () {
          const j1 = yield* Random.next
          const d1 = yield* Random.nextRange(0.1, Math.min(2 + j1, 5))
          const j2 = yield* Random.next
          const d2 = yield* Random.nextRange(0.1, Math.min(4 + j2, 5))
          return [millis(d1), millis(d2)] as const
        })
      )
      assert.isTrue(d1 >= 100 && d1 <= 3000 && d2 >= 100 && d2 <= 5000, `${d1} ${d2}`)
      assert.deepStrictEqual(routes.map((route) => route.at), [0, 1000, 1000 + d1, 1000 + d1 + d2])
      const waits = (yield* Ref.get(log)).flatMap((progress) =>
        progress._tag === "Waiting" ? [[progress.attempt, progress.requestIdx, Duration.toMillis(progress.retryIn)]] : []
      )
      assert.deepStrictEqual(waits, [[0, 0, 1000], [1, 42, d1], [2, 42, d2]])
    })
  )

  it.effect("an integer past 2^53 in the routing answer's auth_data reaches the worker's create, ping and end as written", () =>
    Effect.gen(function* () {
      const past = "9007199254740993" // JSON.parse reads it as 9007199254740992
      const answer = JSON.stringify(ready(W1, 42)).replace(/}$/, `,"ticket":${past}}`)
      const { client, requests } = yield* clientWith(
        byPath({
          [`${AUTOSCALER}/route/`]: [{ status: 200, body: answer }],
          [`${W1}/session/create`]: [created("s-1")],
          [`${W1}/ping`]: [{ status: 200, body: { result: { ok: true } } }],
          [`${W1}/session/end`]: [{ status: 200, body: { ended: true } }]
        })
      )
      const reserved = yield* seeded(client.reserve({ ...reserveOptions, timeout: "1 minute" }))
      yield* client.ping(reserved)
      yield* client.endSession(reserved)
      const [create] = yield* requests("/session/create")
      const [ping] = yield* requests("/ping")
      const [end] = yield* requests("/session/end")
      assert.include(create?.text, `"auth_data":${answer}`)
      assert.include(ping?.text, `"auth_data":${answer}`)
      assert.include(end?.text, `"session_auth":${answer}`)
    })
  )

  it.effect("a 429 from the worker routes again with the same request_idx after min(2^n + U, 5) s", () =>
    Effect.gen(function* () {
      const { client, requests, seen } = yield* clientWith(
        byPath({
          [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 7) }, { status: 200, body: ready(W2, 7) }],
          [`${W1}/session/create`]: [{ status: 429 }],
          [`${W2}/session/create`]: [created("s-2")]
        })
      )
      const { log, onProgress } = yield* progressLog()
      const fiber = yield* Effect.fork(seeded(client.reserve({ ...reserveOptions, timeout: "5 minutes", onProgress })))
      yield* TestClock.adjust("10 seconds")
      const reserved = yield* Fiber.join(fiber)
      assert.deepStrictEqual([reserved.url, reserved.requestIdx, reserved.sessionId], [W2, 7, "s-2"])
      const routes = yield* requests("/route/")
      assert.deepStrictEqual(routes.map((route) => field(route.body, "request_idx")), [0, 7])
      const backoff = yield* seeded(Effect.map(Random.next, (jitter) => millis(Math.min(1 + jitter, 5))))
      assert.deepStrictEqual(routes.map((route) => route.at), [0, backoff])
      const creates = (yield* Ref.get(seen)).filter((request) => request.path === "/session/create")
      assert.deepStrictEqual(creates.map((request) => request.url), [`${W1}/session/create`, `${W2}/session/create`])
      assert.deepStrictEqual(creates[1]?.body, {
        auth_data: ready(W2, 7),
        payload: { lifetime: 60, on_close_route: null, on_close_payload: null },
        session_id: null
      })
      const refused = (yield* Ref.get(log)).filter((progress) => progress._tag === "Refused")
      assert.deepStrictEqual(
        refused.map((progress) => (progress._tag === "Refused" ? [progress.url, progress.status, progress.requestIdx] : [])),
        [[W1, 429, 7]]
      )
    })
  )

  it.effect("a worker that does not answer, or answers 5xx, is retried the same way; a 4xx other than 408/429 is final", () =>
    Effect.gen(function* () {
      const flaky = yield* clientWith(
        byPath({
          [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 7) }],
          [`${W1}/session/create`]: ["network-error", { status: 503 }, created("s-3")]
        })
      )
      const fiber = yield* Effect.fork(flaky.client.reserve({ ...reserveOptions, timeout: "5 minutes" }))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Fiber.join(fiber)).sessionId, "s-3")
      assert.deepStrictEqual((yield* flaky.requests("/route/")).map((route) => field(route.body, "request_idx")), [0, 7, 7])

      const refused = yield* clientWith(
        byPath({
          [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 7) }],
          [`${W1}/session/create`]: [{ status: 422, body: { error: "invalid JSON" } }]
        })
      )
      const error = yield* Effect.flip(refused.client.reserve({ ...reserveOptions, timeout: "5 minutes" }))
      assert.deepInclude(error, { _tag: "UnexpectedResponse", operation: "session/create", status: 422 })
      assert.strictEqual((yield* refused.requests("/route/")).length, 1)
    })
  )

  it.effect("an autoscaler or a worker that speaks plain HTTP at an https URL (TLS 'wrong version number') ends the reservation at once, as an untrusted certificate does (probe 51 F7)", () =>
    Effect.gen(function* () {
      const plain = {
        transportCode: "EPROTO",
        message: "write EPROTO 802C0F98897F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:"
      }
      const routed = yield* clientWith(byPath({ [`${AUTOSCALER}/route/`]: [plain, { status: 200, body: ready(W1, 7) }] }))
      const error = yield* Effect.flip(routed.client.reserve({ ...reserveOptions, timeout: "5 minutes" }))
      assert.deepInclude(error, { _tag: "RequestFailed", operation: "route", plainHttp: true })
      assert.include(error.message, "TLS failed (wrong version number): the server may speak plain HTTP, not TLS")
      assert.strictEqual((yield* routed.requests("/route/")).length, 1)

      const worker = yield* clientWith(
        byPath({ [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 7) }], [`${W1}/session/create`]: [plain, created("s-4")] })
      )
      assert.deepInclude(yield* Effect.flip(worker.client.reserve({ ...reserveOptions, timeout: "5 minutes" })), { operation: "session/create", plainHttp: true })
      assert.strictEqual((yield* worker.requests("/route/")).length, 1)
    })
  )

  it.effect("a worker whose certificate's CA is not trusted ends the reservation at once, naming --ca-file, NODE_EXTRA_CA_CERTS and Vast's root CA", () =>
    Effect.gen(function* () {
      const untrusted = yield* clientWith(
        byPath({
          [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 7) }],
          [`${W1}/session/create`]: [{ transportCode: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }, created("s-4")]
        })
      )
      const error = yield* Effect.flip(untrusted.client.reserve({ ...reserveOptions, timeout: "5 minutes" }))
      assert.deepInclude(error, { _tag: "RequestFailed", operation: "session/create", untrusted: true })
      assert.include(error.message, "--ca-file")
      assert.include(error.message, "NODE_EXTRA_CA_CERTS")
      assert.include(error.message, "https://console.vast.ai/static/jvastai_root.cer")
      assert.strictEqual((yield* untrusted.requests("/route/")).length, 1)
      // The autoscaler's own certificate likewise: no retry of /route/.
      const autoscaler = yield* clientWith(byPath({ [`${AUTOSCALER}/route/`]: [{ transportCode: "SELF_SIGNED_CERT_IN_CHAIN" }, { status: 200, body: ready(W1, 7) }] }))
      assert.deepInclude(yield* Effect.flip(autoscaler.client.reserve({ ...reserveOptions, timeout: "5 minutes" })), { _tag: "RequestFailed", operation: "route" })
      assert.strictEqual((yield* autoscaler.requests("/route/")).length, 1)
      // Any other transport failure, one worker's expired or misnamed certificate included, is still routed again.
      for (const code of ["ECONNRESET", "CERT_HAS_EXPIRED", "ERR_TLS_CERT_ALTNAME_INVALID"]) {
        const other = yield* clientWith(
          byPath({ [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 7) }], [`${W1}/session/create`]: [{ transportCode: code }, created("s-5")] })
        )
        const fiber = yield* Effect.fork(other.client.reserve({ ...reserveOptions, timeout: "5 minutes" }))
        yield* TestClock.adjust("1 minute")
        assert.strictEqual((yield* Fiber.join(fiber)).sessionId, "s-5", code)
      }
    })
  )

  it.effect("gives up with RouteTimeout when the overall timeout passes while waiting", () =>
    Effect.gen(function* () {
      const { client, requests } = yield* clientWith(() => ({ status: 200, body: waiting(5) }))
      const fiber = yield* Effect.fork(seeded(client.reserve({ ...reserveOptions, timeout: "10 seconds" })))
      yield* TestClock.adjust(Duration.millis(9_999))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust(Duration.millis(1))
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.deepInclude(error, { _tag: "RouteTimeout", seconds: 10, requestIdx: 5, last: "waiting" })
      assert.include(error.message, "the endpoint may be at max_workers with every worker busy, or its workers may not be getting ready")
      const routes = yield* requests("/route/")
      assert.isTrue(routes.length >= 3 && routes.every((route) => route.at < 10_000))
    })
  )

  it.effect("a worker that stays full never holds the client past the timeout (unlike the SDK)", () =>
    Effect.gen(function* () {
      const { client, requests } = yield* clientWith(
        byPath({ [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 9) }], [`${W1}/session/create`]: [{ status: 429 }] })
      )
      const fiber = yield* Effect.fork(seeded(client.reserve({ ...reserveOptions, timeout: "20 seconds" })))
      yield* TestClock.adjust("20 seconds")
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.deepInclude(error, { _tag: "RouteTimeout", requestIdx: 9, last: "worker full" })
      const routes = yield* requests("/route/")
      assert.deepStrictEqual([...new Set(routes.slice(1).map((route) => field(route.body, "request_idx")))], [9])
    })
  )

  it.effect("a /route/ failure that may pass (no answer, 5xx, 408, 429) is asked again after min(2^n + U, 5) s with the same request_idx; an answer resets the count", () =>
    Effect.gen(function* () {
      const { client, requests } = yield* clientWith(
        byPath({
          [`${AUTOSCALER}/route/`]: [
            { status: 200, body: waiting(5) },
            "network-error",
            { status: 502, body: "bad gateway" },
            { status: 200, body: waiting() },
            { status: 429 },
            { status: 408 },
            { status: 200, body: ready(W1, 5) }
          ],
          [`${W1}/session/create`]: [created("s-5")]
        })
      )
      const { log, onProgress } = yield* progressLog()
      const fiber = yield* Effect.fork(seeded(client.reserve({ ...reserveOptions, timeout: "5 minutes", onProgress })))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Fiber.join(fiber)).sessionId, "s-5")
      const routes = yield* requests("/route/")
      assert.deepStrictEqual(routes.map((route) => field(route.body, "request_idx")), [0, 5, 5, 5, 5, 5, 5])
      type Step = readonly [tag: "RouteFailed" | "Waiting", attempt: number, status: number | null, waitMs: number]
      const steps = (yield* Ref.get(log)).flatMap((progress): ReadonlyArray<Step> =>
        progress._tag === "RouteFailed"
          ? [[progress._tag, progress.attempt, progress.status, Duration.toMillis(progress.retryIn)]]
          : progress._tag === "Waiting"
            ? [[progress._tag, progress.attempt, null, Duration.toMillis(progress.retryIn)]]
            : []
      )
      assert.deepStrictEqual(
        steps.map(([tag, attempt, status]) => [tag, attempt, status]),
        [
          ["Waiting", 0, null],
          ["RouteFailed", 1, null],
          ["RouteFailed", 2, 502],
          ["Waiting", 1, null],
          ["RouteFailed", 1, 429],
          ["RouteFailed", 2, 408]
        ]
      )
      // Each wait is the one announced, and a failure's wait is the create back-off's: the n-th is 2^(n-1) s plus up to 1 s.
      steps.forEach(([, , , wait], i) => assert.strictEqual((routes[i + 1]?.at ?? 0) - (routes[i]?.at ?? 0), wait))
      for (const [tag, attempt, , wait] of steps) {
        if (tag === "RouteFailed") assert.isTrue(wait >= 1000 * 2 ** (attempt - 1) && wait <= 1000 * 2 ** (attempt - 1) + 1000, `${attempt}: ${wait}`)
      }
      const failed = (yield* Ref.get(log)).find((progress) => progress._tag === "RouteFailed")
      assert.include(failed?._tag === "RouteFailed" ? failed.detail : "", "did not answer")
    })
  )

  it.effect(`${ROUTE_ATTEMPTS} such failures in a row fail the reservation with the last one`, () =>
    Effect.gen(function* () {
      const { client, requests } = yield* clientWith(() => ({ status: 503, body: { error: "down" } }))
      const fiber = yield* Effect.fork(seeded(client.reserve({ ...reserveOptions, timeout: "5 minutes" })))
      yield* TestClock.adjust("1 minute")
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.deepInclude(error, { _tag: "UnexpectedResponse", operation: "route", status: 503 })
      assert.strictEqual((yield* requests("/route/")).length, ROUTE_ATTEMPTS)
    })
  )

  it.effect("any other /route/ failure ends the reservation at once: a 4xx, or a 2xx that does not decode", () =>
    Effect.gen(function* () {
      const unauthorized = yield* clientWith(() => ({ status: 401, body: { error: "bad api_key" } }))
      assert.deepInclude(yield* Effect.flip(unauthorized.client.reserve({ ...reserveOptions, timeout: "5 minutes" })), {
        _tag: "UnexpectedResponse",
        operation: "route",
        status: 401
      })
      assert.strictEqual((yield* unauthorized.requests("/route/")).length, 1)
      const garbled = yield* clientWith(() => ({ status: 200, body: { url: W1 } }))
      assert.deepInclude(yield* Effect.flip(garbled.client.reserve({ ...reserveOptions, timeout: "5 minutes" })), {
        _tag: "UnexpectedResponse",
        operation: "route"
      })
      assert.strictEqual((yield* garbled.requests("/route/")).length, 1)
    })
  )

  it.effect("the overall timeout bounds those retries too: RouteTimeout, saying what the last failure was", () =>
    Effect.gen(function* () {
      const { client, requests } = yield* clientWith(() => "network-error")
      const fiber = yield* Effect.fork(seeded(client.reserve({ ...reserveOptions, timeout: "2500 millis" })))
      yield* TestClock.adjust(Duration.millis(2_499))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust(Duration.millis(1))
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error._tag, "RouteTimeout")
      assert.include(error._tag === "RouteTimeout" ? error.last : "", "did not answer")
      assert.isTrue((yield* requests("/route/")).every((route) => route.at < 2_500))
    })
  )
})

describe("VastClient: worker URLs it cannot call", () => {
  it.effect("a routing answer whose url is not http(s), or has port 0, fails at once with UnexpectedResponse naming the field; nothing is sent to it", () =>
    Effect.gen(function* () {
      // Port 0: Node would send the create to the scheme's default port instead.
      for (const [url, detail] of [
        ["ftp://10.0.0.1:4000", "url: must be an absolute http(s) URL"],
        ["not a url", "url: must be an absolute http(s) URL"],
        ["http://10.0.0.1:0", "url: must not use port 0 (no server listens there)"],
        ["https://10.0.0.1:00/", "url: must not use port 0 (no server listens there)"]
      ] as const) {
        const { client, seen } = yield* clientWith(byPath({ [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(url, 7) }] }))
        const error = yield* Effect.flip(client.reserve({ ...reserveOptions, timeout: "5 minutes" }))
        assert.deepInclude(error, { _tag: "UnexpectedResponse", operation: "route", status: 200, detail })
        assert.notInclude(error.message, "\n")
        assert.deepStrictEqual((yield* Ref.get(seen)).map((request) => request.path), ["/route/"])
      }
    })
  )

  it.effect("a routing answer is described against the shape it claims: a waiting answer's bad request_idx, a ready one's missing signature", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ ...waiting(), request_idx: 1.5 }, "request_idx"],
        [{ ...waiting(), url: null, request_idx: "7" }, "request_idx"],
        [{ url: W1, request_idx: 7 }, "signature"]
      ]
      for (const [body, field] of cases) {
        const { client } = yield* clientWith(byPath({ [`${AUTOSCALER}/route/`]: [{ status: 200, body }] }))
        const error = yield* Effect.flip(client.reserve({ ...reserveOptions, timeout: "5 minutes" }))
        assert.deepInclude(error, { _tag: "UnexpectedResponse", operation: "route", status: 200 }, JSON.stringify(body))
        const detail = error._tag === "UnexpectedResponse" ? error.detail : ""
        assert.match(detail, new RegExp(`^${field}(: | is required)`), JSON.stringify(body))
        assert.notInclude(detail, field === "signature" ? "url" : "url is required", JSON.stringify(body))
      }
    })
  )

  it.effect("a refused connection says what Node said; only a control plane on this machine adds what to start", () =>
    Effect.gen(function* () {
      for (const [webserverUrl, hinted] of [["http://127.0.0.1:9", true], ["http://localhost:9", true], [WEBSERVER, false]] as const) {
        const { client } = yield* clientWith(() => ({ transportCode: "ECONNREFUSED" }), { webserverUrl, autoscalerUrl: AUTOSCALER })
        const error = yield* Effect.flip(client.findEndpoint(ENDPOINT_NAME))
        assert.strictEqual(error._tag, "RequestFailed", webserverUrl)
        const detail = error._tag === "RequestFailed" ? error.detail : ""
        assert.match(detail, /^failed: ECONNREFUSED/, webserverUrl)
        assert.notInclude(detail, webserverUrl, "the URL is named once, by the error")
        assert.strictEqual(detail.includes("start the local serverless"), hinted, webserverUrl)
      }
    })
  )

  it.effect("a create answer whose expiration is past the double range (1e400 reads as Infinity) is an UnexpectedResponse naming it", () =>
    Effect.gen(function* () {
      const { client } = yield* clientWith(
        byPath({
          [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 7) }],
          [`${W1}/session/create`]: [{ status: 201, body: '{"session_id":"s-5","expiration":1e400}' }]
        })
      )
      const error = yield* Effect.flip(client.reserve({ ...reserveOptions, timeout: "5 minutes" }))
      assert.deepInclude(error, { _tag: "UnexpectedResponse", operation: "session/create", status: 201 })
      assert.include(error._tag === "UnexpectedResponse" ? error.detail : "", "expiration")
      // A success it cannot read may be a session nobody ends: said, with when the worker closes it.
      assert.include(error._tag === "UnexpectedResponse" ? error.detail : "", "; the worker may hold a session this client cannot end: it closes it 60 s after its last ping")
    })
  )

  it.effect("a create that gets no answer in time, or whose connection is cut before any answer, may have opened a session: the failure says so; a refused connection does not", () =>
    Effect.gen(function* () {
      const progress: Array<ReserveProgress> = []
      const onProgress = (event: ReserveProgress) => Effect.sync(() => void progress.push(event))
      const { client } = yield* clientWith(
        byPath({ [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 7) }], [`${W1}/session/create`]: ["hang", "network-error", { transportCode: "ECONNRESET" }, "hang"] })
      )
      const fiber = yield* Effect.fork(seeded(client.reserve({ ...reserveOptions, timeout: "5 minutes", onProgress })))
      yield* TestClock.adjust("11 seconds")
      yield* TestClock.adjust("10 seconds")
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.interrupt(fiber)
      const refusals = progress.flatMap((event) => (event._tag === "Refused" ? [event.detail] : []))
      assert.isAtLeast(refusals.length, 3)
      assert.match(refusals[0] ?? "", /did not answer: no answer within 10 s; the worker may hold a session this client cannot end: it closes it 60 s after its last ping$/)
      assert.notInclude(refusals[1] ?? "", "may hold a session")
      // Cut after the request went out: the worker may have answered 201 into it (probe 42 L3).
      assert.match(refusals[2] ?? "", /did not answer: failed: ECONNRESET; the worker may hold a session this client cannot end/)
    })
  )

  it.effect("a create whose 201 is cut off on its way may have opened a session: the failure says so, with the status; a cut-off refusal does not", () =>
    Effect.gen(function* () {
      const progress: Array<ReserveProgress> = []
      const onProgress = (event: ReserveProgress) => Effect.sync(() => void progress.push(event))
      const created = { session_id: "s-1", expiration: 1e10 }
      const { client } = yield* clientWith(
        byPath({
          [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 7) }],
          [`${W1}/session/create`]: [{ status: 201, body: created, cutOff: true }, { status: 429, body: "", cutOff: true }, "hang"]
        })
      )
      const fiber = yield* Effect.fork(seeded(client.reserve({ ...reserveOptions, timeout: "5 minutes", onProgress })))
      yield* TestClock.adjust("30 seconds")
      yield* Fiber.interrupt(fiber)
      const refusals = progress.flatMap((event) => (event._tag === "Refused" ? [event.detail] : []))
      assert.isAtLeast(refusals.length, 2)
      assert.match(refusals[0] ?? "", /answered 201, then the answer was cut off: .*; the worker may hold a session this client cannot end: it closes it 60 s after its last ping$/)
      // A cut-off 429 is still a full worker.
      assert.strictEqual(refusals[1], "worker full")
      assert.deepStrictEqual(progress.flatMap((event) => (event._tag === "Refused" ? [event.status] : [])).slice(0, 2), [201, 429])
    })
  )

  it.effect("a create the HTTP client throws on is a refusal like a network error (routed again), said in one line", () =>
    Effect.gen(function* () {
      const { client, requests } = yield* clientWith(
        byPath({
          [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 7) }],
          [`${W1}/session/create`]: ["defect", created("s-4")]
        })
      )
      const { log, onProgress } = yield* progressLog()
      const fiber = yield* Effect.fork(client.reserve({ ...reserveOptions, timeout: "5 minutes", onProgress }))
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* Fiber.join(fiber)).sessionId, "s-4")
      assert.deepStrictEqual((yield* requests("/route/")).map((route) => field(route.body, "request_idx")), [0, 7])
      const refused = (yield* Ref.get(log)).flatMap((progress) => (progress._tag === "Refused" ? [[progress.status, progress.detail]] : []))
      assert.deepStrictEqual(refused, [[null, `session/create: ${W1}/session/create did not answer: Error: the client threw`]])
    })
  )

  it.effect("a session whose url is not http(s) (a record from elsewhere): /ping fails with RequestFailed, not a defect", () =>
    Effect.gen(function* () {
      const { client } = yield* clientWith(() => ({ status: 200, body: {} }))
      const error = yield* Effect.flip(client.ping({ ...session, url: "ftp://10.0.0.1:4000" }))
      assert.deepInclude(error, { _tag: "RequestFailed", operation: "ping", detail: 'TypeError: Protocol "ftp:" not supported. Expected "http:"' })
    })
  )
})

describe("VastClient: base URLs", () => {
  it.effect("a base URL's path and query stay on every call: the route's path goes after the base's path, before its query", () =>
    Effect.gen(function* () {
      const worker = "https://203.0.113.9:41236/w/?wt=3"
      const { client, seen } = yield* clientWith(
        (request) =>
          request.path.endsWith("/api/v0/endptjobs/")
            ? { status: 200, body: { results: [{ id: 2, endpoint_name: ENDPOINT_NAME, api_key: ENDPOINT_KEY }] } }
            : request.path.endsWith("/route/")
              ? { status: 200, body: ready(worker, 7) }
              : created("abcdefghijklm"),
        { webserverUrl: "https://proxy.test/vast/?t=web#frag", autoscalerUrl: "https://proxy.test/run/?t=run" }
      )
      const found = yield* client.findEndpoint(ENDPOINT_NAME)
      yield* client.reserve({ ...reserveOptions, endpoint: found, timeout: "1 minute" })
      assert.deepStrictEqual(
        (yield* Ref.get(seen)).map((request) => request.url),
        [
          "https://proxy.test/vast/api/v0/endptjobs/?t=web&client_id=me",
          "https://proxy.test/run/route/?t=run",
          "https://203.0.113.9:41236/w/session/create?wt=3"
        ]
      )
    })
  )

  it.effect("a failure's message shows its URL without credentials or query, and escapes what the server sent", () =>
    Effect.gen(function* () {
      const { client } = yield* clientWith(() => ({ status: 502, body: "\u001b[2Jgone\nforged line" }), {
        webserverUrl: "https://user:PASSWORD@proxy.test/?token=TOKEN",
        autoscalerUrl: AUTOSCALER
      })
      const error = yield* Effect.flip(client.findEndpoint(ENDPOINT_NAME))
      assert.notInclude(error.message, "PASSWORD")
      assert.notInclude(error.message, "TOKEN")
      assert.notMatch(error.message, /[\u0000-\u001f]/)
      assert.include(error.message, "https://proxy.test/api/v0/endptjobs/?…")
      assert.include(error.message, "\\x1b[2Jgone\\x0aforged line")
    })
  )
})

describe("VastClient sessions", () => {
  it.effect("/ping: 200 is fine, 410 is SessionClosed", () =>
    Effect.gen(function* () {
      const ok = yield* clientWith(() => ({ status: 200, body: { result: { ok: true } } }))
      yield* ok.client.ping(session)
      const [ping] = yield* ok.requests("/ping")
      assert.deepStrictEqual(ping?.body, { auth_data: session.authData, payload: {}, session_id: session.sessionId })
      const gone = yield* clientWith(() => ({ status: 410, body: { error: "invalid session" } }))
      assert.deepInclude(yield* Effect.flip(gone.client.ping(session)), { _tag: "SessionClosed", sessionId: session.sessionId })
    })
  )

  it.effect("a ping, read or end cut before any answer (ECONNRESET: a kept connection the worker closed) is asked once more at once; a create is not", () =>
    Effect.gen(function* () {
      const cut: FakeAnswer = { transportCode: "ECONNRESET" }
      const info = { session_id: session.sessionId, auth_data: session.authData, lifetime: 60, expiration: 123.5, created_at: 63.5 }
      const calls = [
        ["/ping", (client: VastClient["Type"]): Effect.Effect<unknown, unknown> => client.ping(session), { status: 200, body: {} }],
        ["/session/get", (client: VastClient["Type"]): Effect.Effect<unknown, unknown> => client.getSession(session), { status: 200, body: info }],
        ["/session/health", (client: VastClient["Type"]): Effect.Effect<unknown, unknown> => client.sessionOpen(session), { status: 200, body: { ok: true } }],
        ["/session/end", (client: VastClient["Type"]): Effect.Effect<unknown, unknown> => client.endSession(session), { status: 410, body: { error: "session already closed" } }]
      ] as const
      for (const [path, call, answer] of calls) {
        const once = yield* clientWith(byPath({ [`${W1}${path}`]: [cut, answer] }))
        const outcome = yield* Effect.either(call(once.client))
        assert.isTrue(Either.isRight(outcome), path)
        // The end's 410 after a cut: the first end may be what closed it (probe 42 I1), so not "already closed".
        if (path === "/session/end") assert.deepStrictEqual(outcome, Either.right("closed-after-cut"))
        assert.strictEqual((yield* once.requests(path)).length, 2, path)
        // Cut again: the worker is failing, not a connection that was closed; said, after two calls.
        const twice = yield* clientWith(byPath({ [`${W1}${path}`]: [cut, cut, answer] }))
        assert.deepInclude(yield* Effect.flip(call(twice.client)), { _tag: "RequestFailed", cut: true }, path)
        assert.strictEqual((yield* twice.requests(path)).length, 2, path)
      }
      // Another failure is not asked again here, nor is a cut after the status came.
      const refused = yield* clientWith(byPath({ [`${W1}/ping`]: [{ transportCode: "EPIPE" }, { status: 200, body: {} }] }))
      assert.deepInclude(yield* Effect.flip(refused.client.ping(session)), { _tag: "RequestFailed", operation: "ping" })
      assert.strictEqual((yield* refused.requests("/ping")).length, 1)
      const cutOff = yield* clientWith(byPath({ [`${W1}/ping`]: [{ status: 200, body: { expiration: 1 }, cutOff: true }, { status: 200, body: {} }] }))
      assert.deepInclude(yield* Effect.flip(cutOff.client.ping(session)), { _tag: "RequestFailed", answered: 200 })
      assert.strictEqual((yield* cutOff.requests("/ping")).length, 1)
      // A create cut before its answer may have opened a session: the reservation routes again instead.
      const create = yield* clientWith(byPath({ [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 7) }], [`${W1}/session/create`]: [cut, created("s-6")] }))
      const fiber = yield* Effect.fork(create.client.reserve({ ...reserveOptions, timeout: "5 minutes" }))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Fiber.join(fiber)).sessionId, "s-6")
      assert.strictEqual((yield* create.requests("/route/")).length, 2)
    })
  )

  it.effect("/session/end: 200 ended, 410 already closed (not a failure), 400 unknown, 500 unexpected", () =>
    Effect.gen(function* () {
      const end = (answer: FakeAnswer) => Effect.flatMap(clientWith(() => answer), ({ client }) => Effect.either(client.endSession(session)))
      assert.deepStrictEqual(yield* end({ status: 200, body: { ended: true, removed_session: session.sessionId } }), Either.right("ended"))
      assert.deepStrictEqual(yield* end({ status: 410, body: { error: "session already closed" } }), Either.right("already-closed"))
      const unknown = yield* end({ status: 400, body: { error: "not found" } })
      assert.isTrue(Either.isLeft(unknown) && unknown.left._tag === "SessionUnknown")
      const broken = yield* end({ status: 500 })
      assert.isTrue(Either.isLeft(broken) && broken.left._tag === "UnexpectedResponse")
      const { client, requests } = yield* clientWith(() => ({ status: 200, body: { ended: true } }))
      yield* client.endSession(session)
      assert.deepStrictEqual((yield* requests("/session/end"))[0]?.body, { session_id: session.sessionId, session_auth: session.authData })
    })
  )

  it.effect("/session/get decodes the session; each worker call gives up after 10 s", () =>
    Effect.gen(function* () {
      const { client } = yield* clientWith(() => ({
        status: 200,
        body: { session_id: session.sessionId, auth_data: session.authData, lifetime: 60, expiration: 123.5, created_at: 63.5 }
      }))
      assert.strictEqual((yield* client.getSession(session)).expiration, 123.5)
      const hung = yield* clientWith(() => "hang")
      const fiber = yield* Effect.fork(hung.client.endSession(session))
      yield* TestClock.adjust("9 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 second")
      assert.deepInclude(yield* Effect.flip(Fiber.join(fiber)), { _tag: "RequestFailed", operation: "session/end" })
    })
  )

  it.effect("no worker request carries the user's or the endpoint's key; only the webserver sees the user's key", () =>
    Effect.gen(function* () {
      const { client, seen } = yield* clientWith(
        byPath({
          [`${WEBSERVER}/`]: [{ status: 200, body: { results: [{ id: 2, endpoint_name: ENDPOINT_NAME, api_key: ENDPOINT_KEY }] } }],
          [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 3) }],
          [`${W1}/session/create`]: [created("s-4")],
          [`${W1}/ping`]: [{ status: 200, body: { result: { ok: true } } }],
          [`${W1}/session/get`]: [{ status: 200, body: { session_id: "s-4", lifetime: 60, expiration: 1 } }],
          [`${W1}/session/end`]: [{ status: 200, body: { ended: true, removed_session: "s-4" } }]
        })
      )
      const found = yield* client.findEndpoint(ENDPOINT_NAME)
      const reserved = yield* client.reserve({ ...reserveOptions, endpoint: found, timeout: "1 minute" })
      yield* client.ping(reserved)
      yield* client.getSession(reserved)
      yield* client.endSession(reserved)
      const all = yield* Ref.get(seen)
      const toWorker = all.filter((request) => request.url.startsWith(W1))
      assert.deepStrictEqual(
        toWorker.map((request) => request.path),
        ["/session/create", "/ping", "/session/get", "/session/end"]
      )
      for (const request of toWorker) {
        const everything = `${request.url} ${JSON.stringify(request.headers)} ${JSON.stringify(request.body)}`
        assert.notInclude(everything, USER_KEY, request.url)
        assert.notInclude(everything, ENDPOINT_KEY, request.url)
        assert.notInclude(request.url, "api_key")
        assert.isUndefined(request.headers["authorization"])
      }
      const withUserKey = all.filter((request) => `${request.url} ${JSON.stringify(request.headers)} ${JSON.stringify(request.body)}`.includes(USER_KEY))
      assert.deepStrictEqual(withUserKey.map((request) => request.path), ["/api/v0/endptjobs/"])
      const [route] = all.filter((request) => request.path === "/route/")
      assert.strictEqual(field(route?.body, "api_key"), ENDPOINT_KEY)
      assert.isUndefined(route?.headers["authorization"])
    })
  )
})

describe("tidyTransportMessage", () => {
  it("OpenSSL's internal text becomes its reason, with a hint for plain HTTP; a message cut after a colon loses it; others stay", () => {
    assert.strictEqual(
      tidyTransportMessage("write EPROTO 80EC82B9767F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n"),
      "TLS failed (wrong version number): the server may speak plain HTTP, not TLS"
    )
    assert.strictEqual(
      tidyTransportMessage("Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list: "),
      "Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list"
    )
    assert.strictEqual(tidyTransportMessage("connect ECONNREFUSED 127.0.0.1:9"), "connect ECONNREFUSED 127.0.0.1:9")
  })
})

describe("VastClient: an answer that echoes what was sent is shown without its secrets (probe 53 #1)", () => {
  it.effect("the user's key in a lookup's refusal, the endpoint's key in a route's (raw, as JSON and URL-escaped), a signature in a worker's: each [redacted]", () =>
    Effect.gen(function* () {
      const lookup = yield* clientWith(() => ({ status: 401, body: { error: `bad key Bearer ${USER_KEY}` } }))
      const refused = yield* Effect.flip(lookup.client.findEndpoint(ENDPOINT_NAME))
      assert.include(refused.message, 'answered 401: {"error":"bad key Bearer [redacted]"}')

      const route = yield* clientWith(() => ({ status: 400, body: `bad request {"api_key":"${ENDPOINT_KEY}"} ${encodeURIComponent(`${ENDPOINT_KEY}/x`)} ${USER_KEY}` }))
      const routeError = yield* Effect.flip(route.client.route(endpoint, 100, 0))
      assert.include(routeError.message, 'answered 400: bad request {"api_key":"[redacted]"} [redacted]%2Fx [redacted]')

      const signature = session.authData.signature
      for (const call of ["ping", "endSession", "getSession", "sessionOpen"] as const) {
        const worker = yield* clientWith(() => ({ status: 500, body: { detail: { input: { session_auth: { signature } } } } }))
        const error = yield* Effect.flip(Effect.asVoid(worker.client[call](session) as Effect.Effect<unknown, { readonly message: string }>))
        assert.include(error.message, '"signature":"[redacted]"', call)
        assert.notInclude(error.message, signature, call)
      }
      const create = yield* clientWith(byPath({ [`${AUTOSCALER}/route/`]: [{ status: 200, body: ready(W1, 1) }], [`${W1}/session/create`]: [{ status: 422, body: { input: { signature } } }] }))
      const createError = yield* Effect.flip(create.client.reserve({ ...reserveOptions, timeout: "1 second" }))
      assert.include(createError.message, '{"input":{"signature":"[redacted]"}}')
    })
  )

  it.effect("a value shorter than 8 characters is not hidden: it cannot be told from a word (the local serverless' key, local)", () =>
    Effect.gen(function* () {
      const http = yield* fakeHttp(() => ({ status: 401, body: { error: "endpoint null-local: bad key local" } }))
      const client = yield* Effect.provide(VastClient, VastClient.layer({ apiKey: Redacted.make("local"), webserverUrl: WEBSERVER, autoscalerUrl: AUTOSCALER }).pipe(Layer.provide(http.layer)))
      assert.include((yield* Effect.flip(client.findEndpoint("null-local"))).message, "endpoint null-local: bad key local")
    })
  )
})
