import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Layer, Redacted, Ref, TestClock } from "effect"
import type { ClientEvent } from "../../src/client/events.js"
import { type Mode, program } from "../../src/client/program.js"
import { Reporter } from "../../src/client/Reporter.js"
import { type ReservationPolicy, Reservations } from "../../src/client/Reservations.js"
import { VastClient } from "../../src/client/VastClient.js"
import { readThrough } from "../support/clock.js"
import { ENDPOINT_KEY, ENDPOINT_NAME, USER_KEY } from "./fakeControlPlane.js"
import { type FakeAnswer, type SeenRequest, fakeHttp, field } from "./fakeHttp.js"

const WEBSERVER = "https://console.test"
const AUTOSCALER = "https://run.test"
const worker = (n: number) => `https://10.0.0.${n}:4000`

interface Overrides {
  /** The endpoint lookup's answer to its call-th call (from 1); the list by default. */
  readonly lookup?: (call: number) => FakeAnswer | undefined
  /** The routing answer for a request (n counts new reservations from 1). */
  readonly route?: (requestIdx: number, n: number) => unknown
  /** A create's answer, or the answer of worker n. */
  readonly create?: FakeAnswer | ((n: number) => FakeAnswer)
  /** `/ping`'s answer, or its answer for a request made at `at` (ms). */
  readonly ping?: FakeAnswer | ((at: number) => FakeAnswer)
  /** `/session/end`'s answer, or its answer to the call-th end (from 1). */
  readonly end?: FakeAnswer | ((call: number) => FakeAnswer)
  /** `/session/health`'s answer for a request made at `at` (ms) to `url`; `{"ok": true}` by default. */
  readonly health?: (at: number, url: string) => FakeAnswer
  /** How many `/session/health` looks die first (a defect: a bug in the keep-alive's path). */
  readonly dyingLooks?: number
  /** A `closed` event is reported only once this is done (a report that takes a while). */
  readonly closedReportedAfter?: Deferred.Deferred<void>
  /** Read the clock a millisecond slow per second of its timers: a timer fires a moment before the wall clock shows its time. */
  readonly slowClock?: boolean
}

/** `clock` read a millisecond behind its timers for each second they have run. */
const slow = (clock: Clock.Clock): Clock.Clock => {
  const read = (now: number) => now - Math.floor(now / 1000)
  return readThrough(clock, read, read)
}

/** A routing answer naming `url`, request_idx and reqnum idx. */
const routedTo = (url: string, idx: number) => ({ url, signature: "c2ln", reqnum: idx, request_idx: idx, endpoint: ENDPOINT_NAME, cost: 100 })

/**
 * A fake Vast: the endpoint list, `/route/` naming worker n for the n-th reservation (request_idx n),
 * and workers answering create/ping/get/end.
 */
const fakeVast = (overrides: Overrides = {}) => {
  let reservations = 0
  let ends = 0
  let lookups = 0
  return (request: SeenRequest): FakeAnswer => {
    if (request.url.startsWith(WEBSERVER)) {
      return overrides.lookup?.(++lookups) ?? { status: 200, body: { results: [{ id: 2, endpoint_name: ENDPOINT_NAME, api_key: ENDPOINT_KEY }] } }
    }
    if (request.path === "/route/") {
      const sent = Number(field(request.body, "request_idx"))
      const idx = sent === 0 ? ++reservations : sent
      const body = overrides.route?.(idx, reservations) ?? routedTo(worker(idx), idx)
      return { status: 200, body }
    }
    const n = Number(new URL(request.url).hostname.split(".")[3])
    switch (request.path) {
      case "/session/create":
        return (typeof overrides.create === "function" ? overrides.create(n) : overrides.create) ?? { status: 201, body: { session_id: `s-${n}`, expiration: 1_000 } }
      case "/ping":
        return (typeof overrides.ping === "function" ? overrides.ping(request.at) : overrides.ping) ?? { status: 200, body: { result: { ok: true } } }
      case "/session/get":
        return { status: 200, body: { session_id: `s-${n}`, lifetime: 60, expiration: 2_000 } }
      case "/session/end":
        ends += 1
        return (typeof overrides.end === "function" ? overrides.end(ends) : overrides.end) ?? { status: 200, body: { ended: true, removed_session: `s-${n}` } }
      case "/session/health":
        return overrides.health?.(request.at, request.url) ?? { status: 200, body: { ok: true } }
    }
    return { status: 404 }
  }
}

const policy: ReservationPolicy = { cost: 100, lifetime: 60, onCloseRoute: null, onClosePayload: null, routeTimeout: "5 minutes" }

/** Every event recorded; a `closed` one only after `closedAfter`, when given. */
const reporter = (events: Ref.Ref<ReadonlyArray<ClientEvent>>, closedAfter: Deferred.Deferred<void> | undefined) => {
  const record = (event: ClientEvent) => Ref.update(events, (all) => [...all, event])
  return Layer.succeed(
    Reporter,
    Reporter.of({ emit: (event) => (event.event === "closed" && closedAfter !== undefined ? Effect.zipRight(Deferred.await(closedAfter), record(event)) : record(event)) })
  )
}

/** `program` forked over the fake, with every event recorded. */
const start = (mode: Mode, overrides: Overrides = {}, policyOverrides: Partial<ReservationPolicy> = {}) =>
  Effect.gen(function* () {
    const http = yield* fakeHttp(fakeVast(overrides))
    const events = yield* Ref.make<ReadonlyArray<ClientEvent>>([])
    let dyingLooks = overrides.dyingLooks ?? 0
    const client = Layer.effect(
      VastClient,
      Effect.map(VastClient, (real) =>
        VastClient.of({
          ...real,
          sessionOpen: (session) => (dyingLooks-- > 0 ? Effect.die(new TypeError("session.url.replace is not a function")) : real.sessionOpen(session))
        })
      )
    ).pipe(Layer.provide(VastClient.layer({ apiKey: Redacted.make(USER_KEY), webserverUrl: WEBSERVER, autoscalerUrl: AUTOSCALER })), Layer.provide(http.layer))
    const app = Reservations.layer({ ...policy, ...policyOverrides }).pipe(
      Layer.provideMerge(client),
      Layer.provideMerge(reporter(events, overrides.closedReportedAfter))
    )
    const run = Effect.provide(program(ENDPOINT_NAME, mode), app)
    const clock = yield* Effect.clock
    const fiber = yield* Effect.fork(overrides.slowClock === true ? Effect.withClock(run, slow(clock)) : run)
    const calls = (path: string) =>
      Effect.map(Ref.get(http.seen), (all) => all.filter((request) => request.path === path).map((request) => [request.url, request.at]))
    const names = Effect.map(Ref.get(events), (all) => all.map((event) => event.event))
    const named = <N extends ClientEvent["event"]>(name: N) =>
      Effect.map(Ref.get(events), (all) => all.filter((event): event is Extract<ClientEvent, { event: N }> => event.event === name))
    return { fiber, calls, names, named, events }
  })

const single = (hold: number): Mode => ({ _tag: "Single", hold: Duration.seconds(hold) })

describe("program, single mode", () => {
  it.effect("creates, pings at half the lifetime, ends after the hold, and reports each step", () =>
    Effect.gen(function* () {
      const run = yield* start(single(100))
      yield* TestClock.adjust("100 seconds")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual(yield* run.calls("/session/create"), [[`${worker(1)}/session/create`, 0]])
      assert.deepStrictEqual((yield* run.calls("/ping")).map(([, at]) => at), [30_000, 60_000, 90_000])
      assert.deepStrictEqual(yield* run.calls("/session/end"), [[`${worker(1)}/session/end`, 100_000]])
      assert.deepStrictEqual(yield* run.names, [
        "endpoint", "routing", "created", "holding", "pinged", "pinged", "pinged", "ending", "ended", "done"
      ])
      assert.deepStrictEqual((yield* run.named("pinged")).map((event) => event.expiration), [2_000, 2_000, 2_000])
      assert.deepInclude((yield* run.named("created"))[0], { session_id: "s-1", url: worker(1), expiration: 1_000, request_idx: 1 })
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 1, closed: 0, failures: 0, interrupted: false })
    })
  )

  it.effect("between pings it asks /session/health every 5 s (never at a ping's moment), and nothing is reported while the session is open", () =>
    Effect.gen(function* () {
      const run = yield* start(single(38))
      yield* TestClock.adjust("38 seconds")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual((yield* run.calls("/session/health")).map(([, at]) => at), [5_000, 10_000, 15_000, 20_000, 25_000, 35_000])
      assert.deepStrictEqual((yield* run.calls("/ping")).map(([, at]) => at), [30_000])
      assert.deepStrictEqual(yield* run.names, ["endpoint", "routing", "created", "holding", "pinged", "ending", "ended", "done"])
    })
  )

  it.effect("pings at their moment when the look interval does not divide the ping interval: looks go on between them", () =>
    Effect.gen(function* () {
      const run = yield* start(single(22), {}, { pingEvery: "7 seconds" })
      yield* TestClock.adjust("22 seconds")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual((yield* run.calls("/ping")).map(([, at]) => at), [7_000, 14_000, 21_000])
      assert.deepStrictEqual((yield* run.calls("/session/health")).map(([, at]) => at), [5_000, 12_000, 19_000])
    })
  )

  it.effect("a tiny lifetime pings and looks at most once a second, not flat out (probe 51 F3)", () =>
    Effect.gen(function* () {
      const run = yield* start(single(3.5), {}, { lifetime: 0.01 })
      yield* TestClock.adjust("3500 millis")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual((yield* run.calls("/ping")).map(([, at]) => at), [1_000, 2_000, 3_000])
      assert.deepStrictEqual(yield* run.calls("/session/health"), [])
    })
  )

  it.effect("a clock read behind its timers still pings at each half lifetime (else the first ping lands on the expiry)", () =>
    Effect.gen(function* () {
      const run = yield* start(single(10), { slowClock: true }, { lifetime: 6 })
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(run.fiber)
      // The timers' 3, 6 and 9 s, as the slow clock reads them.
      assert.deepStrictEqual((yield* run.calls("/ping")).map(([, at]) => at), [2_997, 5_994, 8_991])
    })
  )

  it.effect("a session its consumer released is seen at the next look: the hold ends there, nothing is ended, exit 0", () =>
    Effect.gen(function* () {
      // Released on the worker at 12 s: from then on /session/health says {"ok": false}.
      const run = yield* start(single(180), { health: (at) => ({ status: 200, body: { ok: at < 12_000 } }) })
      yield* TestClock.adjust("15 seconds")
      const exit = yield* Fiber.await(run.fiber)
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual((yield* run.calls("/session/health")).map(([, at]) => at), [5_000, 10_000, 15_000])
      assert.deepStrictEqual(yield* run.calls("/session/end"), [])
      assert.deepStrictEqual(yield* run.names, ["endpoint", "routing", "created", "holding", "closed", "done"])
      assert.deepInclude((yield* run.named("closed"))[0], { session_id: "s-1", reason: "released by its consumer or closed by its worker (its /session/health says it is no longer open)" })
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 0, closed: 1, failures: 0, interrupted: false })
    })
  )

  it.effect("a close still being reported when the hold ends with it is reported whole: the stop waits for it (review 39 I5)", () =>
    Effect.gen(function* () {
      const reported = yield* Deferred.make<void>()
      const run = yield* start(single(180), { health: (at) => ({ status: 200, body: { ok: at < 12_000 } }), closedReportedAfter: reported })
      // The look at 15 s takes the session (which ends the hold and starts the stop) and begins its report.
      yield* TestClock.adjust("15 seconds")
      yield* Deferred.succeed(reported, undefined)
      const exit = yield* Fiber.await(run.fiber)
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(yield* run.names, ["endpoint", "routing", "created", "holding", "closed", "done"])
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 0, closed: 1, failures: 0, interrupted: false })
    })
  )

  it.effect("a failed look (the worker does not answer) is not a close: the session is held and ended as planned", () =>
    Effect.gen(function* () {
      const run = yield* start(single(20), { health: () => ({ status: 503 }) })
      yield* TestClock.adjust("20 seconds")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual(yield* run.calls("/session/end"), [[`${worker(1)}/session/end`, 20_000]])
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 1, closed: 0, failures: 0 })
    })
  )

  it.effect("three failed looks in a row are reported once (a warning, not a failure); a look that answers starts the count again", () =>
    Effect.gen(function* () {
      // Looks at 5, 10, 15, 20, 25 s fail; 35 s answers; 40, 45, 50 s fail again. Pings at 30 and 60 s.
      const failing = (at: number) => (at < 30_000 || (at > 35_000 && at < 55_000) ? { status: 503 } : { status: 200, body: { ok: true } })
      const run = yield* start(single(58), { health: failing })
      yield* TestClock.adjust("14 seconds")
      assert.deepStrictEqual(yield* run.named("error"), [])
      yield* TestClock.adjust("44 seconds")
      yield* Fiber.join(run.fiber)
      const warnings = yield* run.named("error")
      assert.deepStrictEqual(warnings.map((event) => [event.operation, event.fatal, event.session_id]), [
        ["session/health", false, "s-1"],
        ["session/health", false, "s-1"]
      ])
      assert.match(warnings[0]!.message, /^3 looks in a row failed: session\/health: https:\/\/10\.0\.0\.1:4000\/session\/health answered 503/)
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 1, closed: 0, failures: 0 })
    })
  )

  it.effect("interrupted during the hold (Ctrl-C), it ends the session before it returns", () =>
    Effect.gen(function* () {
      const run = yield* start(single(600))
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.interrupt(run.fiber)
      assert.deepStrictEqual(yield* run.calls("/session/end"), [[`${worker(1)}/session/end`, 5_000]])
      assert.deepStrictEqual((yield* run.names).slice(-5), ["interrupted", "shutdown", "ending", "ended", "done"])
      assert.deepInclude((yield* run.named("done"))[0], { ended: 1, failures: 0, interrupted: true })
    })
  )

  it.effect("interrupted while /session/create is in flight, it still ends the session the worker created", () =>
    Effect.gen(function* () {
      const run = yield* start(single(600), { create: { status: 201, body: { session_id: "late", expiration: 1 }, delay: "5 seconds" } })
      yield* TestClock.adjust("1 second")
      const interrupter = yield* Effect.fork(Fiber.interrupt(run.fiber))
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(interrupter)
      assert.deepStrictEqual(yield* run.calls("/session/end"), [[`${worker(1)}/session/end`, 5_000]])
      // Ended by its own create as it returns: the stop had nothing open to end before.
      assert.deepStrictEqual(yield* run.names, ["endpoint", "routing", "interrupted", "in_flight", "created", "ending", "ended", "done"])
      assert.deepInclude((yield* run.named("in_flight"))[0], { creates: 1, ends: 0 })
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 1, failures: 0, interrupted: true })
    })
  )

  it.effect("interrupted while a /session/create that never answers is in flight: once it gives up, a warning says the worker may hold a session", () =>
    Effect.gen(function* () {
      const run = yield* start(single(600), { create: "hang" })
      yield* TestClock.adjust("1 second")
      const interrupter = yield* Effect.fork(Fiber.interrupt(run.fiber))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(interrupter)
      assert.deepStrictEqual(yield* run.calls("/session/end"), [])
      assert.deepStrictEqual(yield* run.names, ["endpoint", "routing", "interrupted", "in_flight", "error", "done"])
      const [warning] = yield* run.named("error")
      assert.deepInclude(warning, { operation: "session/create", fatal: false, reservation: 1 })
      assert.match(warning?.message ?? "", /did not answer: no answer within 10 s; the worker may hold a session this client cannot end: it closes it 60 s after its last ping$/)
      assert.deepInclude((yield* run.named("done"))[0], { created: 0, failures: 0, interrupted: true })
    })
  )

  it.effect("a create that never answers while the reservation is still wanted is a refusal routed again, not a warning: only a given-up reservation's warns", () =>
    Effect.gen(function* () {
      // Worker 1 never answers its create; the reservation is routed again, to worker 2, which creates.
      let routes = 0
      const run = yield* start(single(30), {
        create: (n) => (n === 1 ? "hang" : { status: 201, body: { session_id: `s-${n}`, expiration: 1_000 } }),
        route: (idx) => routedTo(worker(routes++ === 0 ? 1 : 2), idx)
      })
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual((yield* run.calls("/session/create")).map(([url]) => url), [1, 2].map((n) => `${worker(n)}/session/create`))
      assert.deepStrictEqual(yield* run.named("error"), [])
      assert.match((yield* run.named("refused"))[0]?.message ?? "", /did not answer: no answer within 10 s/)
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 1, failures: 0, interrupted: false })
    })
  )

  it.effect("a keep-alive that dies is reported (not a failure) and started again: the session is still pinged, then ended", () =>
    Effect.gen(function* () {
      const run = yield* start(single(95), { dyingLooks: 1 })
      yield* TestClock.adjust("95 seconds")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual(
        (yield* run.named("error")).map((event) => [event.operation, event.session_id, event.fatal, event.message]),
        [["keep-alive", "s-1", false, "crashed (TypeError: session.url.replace is not a function); starting it again in 5s"]]
      )
      // Died at the first look (5 s), started again 5 s later: pings every 30 s from there.
      assert.deepStrictEqual((yield* run.calls("/ping")).map(([, at]) => at), [40_000, 70_000])
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 1, closed: 0, failures: 0 })
    })
  )

  it.effect("a failed ping (a proxy's 502) is tried again at the next look, not a whole interval later, which would be the session's deadline (review 39 M1)", () =>
    Effect.gen(function* () {
      // Lifetime 60 s: pings every 30 s, looks every 5 s. The ping at 30 s fails; the next at 60 s would be too late.
      const run = yield* start(single(100), { ping: (at) => (at < 31_000 ? { status: 502, body: "bad gateway" } : { status: 200, body: { result: { ok: true } } }) })
      yield* TestClock.adjust("100 seconds")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual((yield* run.calls("/ping")).map(([, at]) => at), [30_000, 35_000, 65_000, 95_000])
      assert.deepStrictEqual((yield* run.named("error")).map((event) => event.operation), ["ping"])
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 1, closed: 0, failures: 0 })
    })
  )

  it.effect("a 410 on /ping means the worker closed the session: reported, not ended again, not a failure", () =>
    Effect.gen(function* () {
      const run = yield* start(single(100), { ping: { status: 410, body: { error: "invalid session" } } })
      yield* TestClock.adjust("100 seconds")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual(yield* run.calls("/session/end"), [])
      assert.deepInclude((yield* run.named("closed"))[0], { session_id: "s-1", reason: "released by its consumer or closed by its worker (410 on /ping)" })
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 0, closed: 1, failures: 0 })
    })
  )

  it.effect("a worker that refuses the connection has stopped, and its session with it: a refused look or ping ends the hold, a refused end counts as closed; not failures", () =>
    Effect.gen(function* () {
      const refused = { transportCode: "ECONNREFUSED" }
      const gone = "nothing listens at the worker's address any more (connection refused twice, a second apart)"
      // Scaled down at 12 s: the look at 15 s is refused, and so is the one asked again at 16 s.
      const looked = yield* start(single(180), { health: (at) => (at < 12_000 ? { status: 200, body: { ok: true } } : refused) })
      yield* TestClock.adjust("15 seconds")
      assert.isNull(looked.fiber.unsafePoll())
      yield* TestClock.adjust("1 second")
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(looked.fiber)))
      assert.deepStrictEqual((yield* looked.calls("/session/health")).map(([, at]) => at), [5_000, 10_000, 15_000, 16_000])
      assert.deepStrictEqual(yield* looked.calls("/session/end"), [])
      assert.deepInclude((yield* looked.named("closed"))[0], { session_id: "s-1", reason: gone })
      // Counted apart from a close the worker reported (client probe 51 F9).
      assert.deepInclude((yield* looked.named("done"))[0], { created: 1, ended: 0, closed: 0, gone_with_worker: 1, failures: 0 })
      assert.deepStrictEqual(yield* looked.named("error"), [])

      const pinged = yield* start(single(180), { ping: refused }, { lifetime: 4 })
      yield* TestClock.adjust("3 seconds")
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(pinged.fiber)))
      assert.deepInclude((yield* pinged.named("closed"))[0], { session_id: "s-1", reason: gone })
      assert.deepInclude((yield* pinged.named("done"))[0], { closed: 0, gone_with_worker: 1 })

      const ended = yield* start(single(10), { end: refused })
      yield* TestClock.adjust("11 seconds")
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(ended.fiber)))
      const ends = (yield* ended.calls("/session/end")).map(([, at]) => Number(at))
      assert.deepStrictEqual([ends.length, (ends[1] ?? 0) - (ends[0] ?? 0)], [2, 1_000])
      assert.deepInclude((yield* ended.named("closed"))[0], { session_id: "s-1", reason: `${gone} on /session/end` })
      assert.deepInclude((yield* ended.named("done"))[0], { created: 1, ended: 0, closed: 0, gone_with_worker: 1, failures: 0 })
    })
  )

  it.effect("a connection refused once (a forwarder's blip) is asked again a second later: answered then, the session is held and ended as planned", () =>
    Effect.gen(function* () {
      const blip = yield* start(single(20), { health: (at) => (at === 15_000 ? { transportCode: "ECONNREFUSED" } : { status: 200, body: { ok: true } }) })
      yield* TestClock.adjust("20 seconds")
      yield* Fiber.join(blip.fiber)
      assert.deepStrictEqual((yield* blip.calls("/session/health")).map(([, at]) => at), [5_000, 10_000, 15_000, 16_000])
      assert.deepStrictEqual(yield* blip.named("closed"), [])
      assert.deepInclude((yield* blip.named("done"))[0], { created: 1, ended: 1, closed: 0, failures: 0 })
    })
  )

  it.effect("a worker that does not answer in other ways (a reset, a timeout) may still hold the session: a failed end still fails the run", () =>
    Effect.gen(function* () {
      const reset = yield* start(single(10), { end: { transportCode: "ECONNRESET" } })
      // Asked again within 30 s (each attempt is two calls: a cut is asked again at once), then given up.
      yield* TestClock.adjust("1 minute")
      const exit = yield* Fiber.await(reset.fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepInclude((yield* reset.named("error"))[0], { operation: "session/end", session_id: "s-1", fatal: true })
    })
  )

  it.effect("a 410 on /session/end counts as closed; any other failed end makes the run fail", () =>
    Effect.gen(function* () {
      const gone = yield* start(single(10), { end: { status: 410, body: { error: "session already closed" } } })
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(gone.fiber)
      assert.deepInclude((yield* gone.named("closed"))[0], { reason: "released by its consumer or closed by its worker (410 on /session/end: already closed)" })
      // A 410 to the end asked again after a cut may be the first end's doing: not said to be the worker's earlier close.
      const cut = yield* start(single(10), { end: (call) => (call === 1 ? { transportCode: "ECONNRESET" } : { status: 410, body: { error: "session already closed" } }) })
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(cut.fiber)
      assert.deepInclude((yield* cut.named("closed"))[0], {
        reason: "410 on /session/end asked again after its connection was cut: closed, by the first end or before it"
      })
      // Counted on its own: the summary's "closed by the worker" would claim a close the first end may have made.
      assert.deepInclude((yield* cut.named("done"))[0], { ended: 0, closed: 0, closed_after_cut: 1, failures: 0 })
      assert.deepInclude((yield* gone.named("done"))[0], { ended: 0, closed: 1, gone_with_worker: 0, closed_after_cut: 0, failures: 0 })

      const broken = yield* start(single(10), { end: { status: 500 } })
      yield* TestClock.adjust("1 minute")
      const exit = yield* Fiber.await(broken.fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepInclude(yield* Effect.flip(exit), { _tag: "RunFailed", failures: 1 })
      assert.deepInclude((yield* broken.named("error"))[0], { operation: "session/end", session_id: "s-1", fatal: true })
    })
  )

  it.effect("an end that fails in a way that may pass (503, 429, 408, no answer) is asked again with back-off; a 410 then is a close, said to be perhaps an earlier end's (probe 51 F2)", () =>
    Effect.gen(function* () {
      for (const blip of [{ status: 503 }, { status: 429 }, { status: 408 }, "hang"] as const) {
        const run = yield* start(single(10), { end: (call) => (call === 1 ? blip : { status: 200, body: { ended: true } }) })
        yield* TestClock.adjust("1 minute")
        yield* Fiber.join(run.fiber)
        const ends = (yield* run.calls("/session/end")).map(([, at]) => Number(at))
        assert.strictEqual(ends.length, 2, JSON.stringify(blip))
        const [retry] = yield* run.named("end_retry")
        assert.deepInclude(retry, { reservation: 1, session_id: "s-1", url: worker(1), attempt: 1 })
        // The first back-off is 1 s and a jitter below 1 s, after the first call's answer (10 s when it never comes).
        const answeredAt = ends[0]! + (blip === "hang" ? 10_000 : 0)
        assert.isAtLeast(ends[1]! - answeredAt, 1_000)
        assert.isBelow(ends[1]! - answeredAt, 2_000)
        assert.strictEqual(ends[1]! - answeredAt, Math.round(retry!.retry_in * 1000))
        assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 1, closed: 0, failures: 0 })
      }

      const closed = yield* start(single(10), { end: (call) => (call === 1 ? { status: 502 } : { status: 410, body: { error: "session already closed" } }) })
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(closed.fiber)
      assert.deepInclude((yield* closed.named("closed"))[0], { reason: "410 on /session/end asked again after a failed attempt: closed, by an earlier end or before it" })
      assert.deepInclude((yield* closed.named("done"))[0], { ended: 0, closed: 0, closed_after_cut: 1, failures: 0 })
    })
  )

  it.effect("an end that keeps failing is asked at most 5 times, none started 30 s after the first; its error says how to free the session, without its session_auth (probe 51 F2)", () =>
    Effect.gen(function* () {
      const run = yield* start(single(10), { end: { status: 503, body: "unavailable" } })
      yield* TestClock.adjust("2 minutes")
      const exit = yield* Fiber.await(run.fiber)
      assert.isTrue(Exit.isFailure(exit))
      const ends = (yield* run.calls("/session/end")).map(([, at]) => Number(at))
      assert.strictEqual(ends.length, 5)
      assert.isAtMost(ends[4]! - ends[0]!, 30_000)
      assert.deepStrictEqual((yield* run.named("end_retry")).map((event) => event.attempt), [1, 2, 3, 4])
      const [error] = yield* run.named("error")
      assert.deepInclude(error, { operation: "session/end", session_id: "s-1", fatal: true })
      assert.include(error!.message, "answered 503: unavailable; session s-1 may hold its worker until it expires (1970-01-01T00:16:40.000Z, 60 s after its last ping)")
      assert.include(error!.message, `POST /release {"session_id": "<that id>"} to the worker's control port`)
      assert.notInclude(JSON.stringify(yield* Ref.get(run.events)), "c2ln")
      assert.deepInclude((yield* run.named("done"))[0], { ended: 0, failures: 1 })
    })
  )

  it.effect("a 400 (the worker does not know the session) is not asked again (probe 51 F2)", () =>
    Effect.gen(function* () {
      const run = yield* start(single(10), { end: { status: 400, body: { error: "unknown" } } })
      yield* TestClock.adjust("1 minute")
      assert.isTrue(Exit.isFailure(yield* Fiber.await(run.fiber)))
      assert.strictEqual((yield* run.calls("/session/end")).length, 1)
      assert.deepStrictEqual(yield* run.named("end_retry"), [])
    })
  )

  it.effect("once the run stops, an end is asked again for 10 s at most, not 30 (probe 51 F2)", () =>
    Effect.gen(function* () {
      const run = yield* start(single(600), { end: { status: 503 } })
      yield* TestClock.adjust("5 seconds")
      yield* Effect.fork(Fiber.interrupt(run.fiber))
      yield* TestClock.adjust("2 minutes")
      assert.isTrue(Exit.isFailure(yield* Fiber.await(run.fiber)))
      const ends = (yield* run.calls("/session/end")).map(([, at]) => Number(at))
      assert.isAtLeast(ends.length, 2)
      assert.isAtMost(ends[ends.length - 1]! - ends[0]!, 10_000)
    })
  )

  it.effect("a routing answer whose url is not http(s) is a failed reservation in one line, not an internal error", () =>
    Effect.gen(function* () {
      const run = yield* start(single(10), { route: (idx) => routedTo("ftp://10.0.0.1:4000", idx) })
      const error = yield* Effect.flip(Fiber.join(run.fiber))
      assert.deepInclude(error, { _tag: "RunFailed", failures: 1 })
      assert.deepStrictEqual(yield* run.calls("/session/create"), [])
      assert.deepStrictEqual(yield* run.names, ["endpoint", "routing", "error", "done"])
      const [reported] = yield* run.named("error")
      assert.deepInclude(reported, { operation: "route", reservation: 1, fatal: true })
      assert.strictEqual(reported?.message, `route: ${AUTOSCALER}/route/ answered 200: url: must be an absolute http(s) URL`)
    })
  )

  it.effect("an endpoint lookup that fails in a way that may pass (502, no answer) is asked again with back-off, as /route/ is; a 401 is not (probe 51 F4)", () =>
    Effect.gen(function* () {
      const run = yield* start(single(10), { lookup: (call) => (call === 1 ? { status: 502, body: "bad gateway" } : call === 2 ? "hang" : undefined) })
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(run.fiber)
      const warnings = yield* run.named("error")
      assert.deepStrictEqual(warnings.map((event) => [event.operation, event.fatal]), [["endpoint lookup", false], ["endpoint lookup", false]])
      assert.match(warnings[0]!.message, /answered 502: bad gateway \(1 of 5 in a row\), asking again in [\d.]+ s$/)
      assert.match(warnings[1]!.message, /no answer within 10 s \(2 of 5 in a row\)/)
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 1, failures: 0 })

      const down = yield* start(single(10), { lookup: () => ({ status: 503 }) })
      yield* TestClock.adjust("1 minute")
      assert.deepInclude(yield* Effect.flip(Fiber.join(down.fiber)), { _tag: "RunFailed", failures: 1 })
      assert.strictEqual((yield* down.named("error")).filter((event) => !event.fatal).length, 4)

      for (const permanent of [{ status: 401, body: { error: "unauthorized" } }, { transportCode: "ECONNREFUSED" }] as const) {
        const refused = yield* start(single(10), { lookup: () => permanent })
        yield* TestClock.adjust("1 minute")
        assert.deepInclude(yield* Effect.flip(Fiber.join(refused.fiber)), { _tag: "RunFailed", failures: 1 })
        assert.deepStrictEqual((yield* refused.named("error")).map((event) => event.fatal), [true], JSON.stringify(permanent))
      }
    })
  )

  it.effect("an unknown endpoint fails the run before any routing", () =>
    Effect.gen(function* () {
      const http = yield* fakeHttp(() => ({ status: 200, body: { results: [] } }))
      const events = yield* Ref.make<ReadonlyArray<ClientEvent>>([])
      const app = Reservations.layer(policy).pipe(
        Layer.provideMerge(
          VastClient.layer({ apiKey: Redacted.make(USER_KEY), webserverUrl: WEBSERVER, autoscalerUrl: AUTOSCALER }).pipe(Layer.provide(http.layer))
        ),
        Layer.provideMerge(Reporter.layerRecording(events))
      )
      const error = yield* Effect.flip(Effect.provide(program(ENDPOINT_NAME, single(10)), app))
      assert.deepInclude(error, { _tag: "RunFailed", failures: 1 })
      assert.deepStrictEqual((yield* Ref.get(http.seen)).length, 1)
      assert.deepInclude((yield* Ref.get(events))[0], { event: "error", operation: "endpoint lookup", fatal: true })
    })
  )
})

describe("program, --demo", () => {
  it.effect("a plateau whose sessions the workers all closed (their consumers released them) is over at once: nothing is left to hold or end", () =>
    Effect.gen(function* () {
      // Every worker says its session is closed from 40 s on; the plateau would last until 360 s.
      const run = yield* start(
        { _tag: "Demo", count: 2, interval: Duration.seconds(30), plateau: Duration.seconds(300) },
        { health: (at) => ({ status: 200, body: { ok: at < 40_000 } }) },
        { lifetime: 1_000 }
      )
      yield* TestClock.adjust("75 seconds")
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(run.fiber)))
      assert.deepStrictEqual(yield* run.calls("/session/end"), [])
      assert.deepInclude((yield* run.named("done"))[0], { created: 2, ended: 0, closed: 2, failures: 0 })
    })
  )

  it.effect("creates --count sessions --interval apart, holds the plateau, ends them one at a time --interval apart", () =>
    Effect.gen(function* () {
      const run = yield* start(
        { _tag: "Demo", count: 3, interval: Duration.seconds(30), plateau: Duration.seconds(300) },
        {},
        { lifetime: 1_000 }
      )
      yield* TestClock.adjust("420 seconds")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual(yield* run.calls("/session/create"), [
        [`${worker(1)}/session/create`, 0],
        [`${worker(2)}/session/create`, 30_000],
        [`${worker(3)}/session/create`, 60_000]
      ])
      assert.deepStrictEqual(yield* run.calls("/session/end"), [
        [`${worker(1)}/session/end`, 360_000],
        [`${worker(2)}/session/end`, 390_000],
        [`${worker(3)}/session/end`, 420_000]
      ])
      assert.deepInclude((yield* run.named("holding"))[0], { seconds: 300, sessions: 3 })
      assert.deepInclude((yield* run.named("done"))[0], { created: 3, ended: 3, closed: 0, failures: 0 })
    })
  )

  for (const [when, closedAt] of [
    ["during the plateau", 100_000],
    ["during the wait before its turn (360 s to 390 s)", 370_000]
  ] as const) {
    it.effect(`a session its worker closes ${when} takes no turn among the ends: the next open one is ended --interval after the last end`, () =>
      Effect.gen(function* () {
        const run = yield* start(
          { _tag: "Demo", count: 3, interval: Duration.seconds(30), plateau: Duration.seconds(300) },
          { health: (at, url) => ({ status: 200, body: { ok: !(url.startsWith(worker(2)) && at >= closedAt) } }) },
          { lifetime: 1_000 }
        )
        yield* TestClock.adjust("420 seconds")
        yield* Fiber.join(run.fiber)
        assert.deepStrictEqual(yield* run.calls("/session/end"), [
          [`${worker(1)}/session/end`, 360_000],
          [`${worker(3)}/session/end`, 390_000]
        ])
        assert.deepInclude((yield* run.named("done"))[0], { created: 3, ended: 2, closed: 1, failures: 0 })
      })
    )
  }

  it.effect("each reservation starts --interval after the one before it started: one still waiting for a worker holds back none after it", () =>
    Effect.gen(function* () {
      // Reservation 2 finds no worker for its first six polls; the others are routed at once.
      let waited = 0
      const run = yield* start(
        { _tag: "Demo", count: 3, interval: Duration.seconds(1), plateau: Duration.seconds(5) },
        { route: (idx) => (idx === 2 && waited++ < 6 ? { endpoint: ENDPOINT_NAME, request_idx: 2 } : undefined) }
      )
      yield* TestClock.adjust("2 minutes")
      yield* Fiber.join(run.fiber)
      const creates = yield* run.calls("/session/create")
      assert.deepStrictEqual(creates.filter(([url]) => url !== `${worker(2)}/session/create`), [
        [`${worker(1)}/session/create`, 0],
        [`${worker(3)}/session/create`, 2_000]
      ])
      const second = creates.find(([url]) => url === `${worker(2)}/session/create`)
      assert.isAbove(Number(second?.[1] ?? 0), 2_000, "the second created last, after its wait")
      assert.deepInclude((yield* run.named("done"))[0], { created: 3, ended: 3, failures: 0 })
    })
  )

  it.effect("--interval 0 starts every reservation at once: the first waiting for a worker delays none of the others", () =>
    Effect.gen(function* () {
      let waited = 0
      const run = yield* start(
        { _tag: "Demo", count: 3, interval: Duration.zero, plateau: Duration.seconds(5) },
        { route: (idx) => (idx === 1 && waited++ < 3 ? { endpoint: ENDPOINT_NAME, request_idx: 1 } : undefined) }
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(run.fiber)
      const creates = yield* run.calls("/session/create")
      assert.deepStrictEqual(creates.slice(0, 2), [[`${worker(2)}/session/create`, 0], [`${worker(3)}/session/create`, 0]])
      assert.strictEqual(creates[2]?.[0], `${worker(1)}/session/create`)
    })
  )

  it.effect("a reservation routed to a url that is not http(s) is a failure; the demo goes on with the others", () =>
    Effect.gen(function* () {
      const run = yield* start(
        { _tag: "Demo", count: 3, interval: Duration.seconds(1), plateau: Duration.seconds(5) },
        { route: (idx) => (idx === 2 ? routedTo("ftp://10.0.0.2:4000", idx) : undefined) }
      )
      yield* TestClock.adjust("1 minute")
      const error = yield* Effect.flip(Fiber.join(run.fiber))
      assert.deepInclude(error, { _tag: "RunFailed", failures: 1 })
      assert.deepStrictEqual((yield* run.calls("/session/create")).map(([url]) => url), [`${worker(1)}/session/create`, `${worker(3)}/session/create`])
      assert.deepStrictEqual((yield* run.calls("/session/end")).map(([url]) => url), [`${worker(1)}/session/end`, `${worker(3)}/session/end`])
      assert.deepStrictEqual((yield* run.named("error")).map((event) => [event.operation, event.reservation]), [["route", 2]])
      assert.deepInclude((yield* run.named("done"))[0], { created: 2, ended: 2, failures: 1 })
    })
  )

  it.effect("a create answered with a session id held from another worker is refused and that worker's session ended at once: the reservation routes again, both sessions are held and ended", () =>
    Effect.gen(function* () {
      // Workers 1 and 2 answer every create with the same id; reservation 2 goes to worker 2 first, then to worker 3.
      let routes = 0
      const run = yield* start(
        { _tag: "Demo", count: 2, interval: Duration.seconds(1), plateau: Duration.seconds(5) },
        {
          create: (n) => ({ status: 201, body: { session_id: n === 3 ? "s-3" : "same", expiration: 1_000 } }),
          route: (idx) => (idx === 2 ? routedTo(worker(routes++ === 0 ? 2 : 3), idx) : undefined)
        }
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual((yield* run.calls("/session/create")).map(([url]) => url), [1, 2, 3].map((n) => `${worker(n)}/session/create`))
      // Worker 2's at its create's moment; the held two after the plateau.
      const ends = yield* run.calls("/session/end")
      assert.deepStrictEqual(ends[0], [`${worker(2)}/session/end`, 1_000])
      assert.deepStrictEqual(ends.slice(1).map(([url]) => url), [`${worker(1)}/session/end`, `${worker(3)}/session/end`])
      const [refusal] = yield* run.named("refused")
      assert.deepInclude(refusal, { reservation: 2, url: worker(2) })
      assert.include(refusal?.message, `session id same is one this client already holds on ${worker(1)}; this worker's session was ended at once`)
      assert.deepStrictEqual((yield* run.named("created")).map((event) => [event.reservation, event.session_id, event.url]), [
        [1, "same", worker(1)],
        [2, "s-3", worker(3)]
      ])
      assert.deepInclude((yield* run.named("done"))[0], { created: 2, ended: 2, closed: 0, failures: 0 })
    })
  )

  it.effect.each<readonly [string, string, number]>([
    ["", worker(1), 201],
    // Written another way (scheme in capitals, a trailing slash): the same worker (review 38 I4).
    [", its address written another way", "HTTPS://10.0.0.1:4000/", 201],
    // The refusal says the create's own status, which a worker may give as 200 (review 39 I2).
    [", the create answered 200", worker(1), 200]
  ])("a create answered with a session id the same worker already holds for this client is refused and not ended (an end would close the held one)%s", ([, sameWorkerUrl, createStatus]) =>
    Effect.gen(function* () {
      // Both reservations are routed to worker 1 first, which answers every create with one id; the second then goes to worker 2.
      let routes = 0
      const run = yield* start(
        { _tag: "Demo", count: 2, interval: Duration.seconds(1), plateau: Duration.seconds(5) },
        {
          create: (n) => ({ status: createStatus, body: { session_id: n === 1 ? "same" : `s-${n}`, expiration: 1_000 } }),
          route: (idx) => (idx === 2 ? routedTo(routes++ === 0 ? sameWorkerUrl : worker(2), idx) : undefined)
        }
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(run.fiber)
      assert.deepStrictEqual((yield* run.calls("/session/create")).map(([url]) => url), [1, 1, 2].map((n) => `${worker(n)}/session/create`))
      // No end reached worker 1 before the plateau's: the held session was not closed by the refusal.
      assert.deepStrictEqual((yield* run.calls("/session/end")).map(([url]) => url), [1, 2].map((n) => `${worker(n)}/session/end`))
      assert.include(
        (yield* run.named("refused"))[0]?.message,
        `answered ${createStatus}: session id same is one this client already holds on this worker; refused, not ended`
      )
      assert.deepInclude((yield* run.named("done"))[0], { created: 2, ended: 2, closed: 0, failures: 0 })
    })
  )

  it.effect("interrupted while a create hangs, the session already held is ended at once, not after the create gives up; the wait is said first (probe 51 F1a)", () =>
    Effect.gen(function* () {
      // #1 is created at 0 s; #2's create (sent at 2 s) never answers.
      const run = yield* start(
        { _tag: "Demo", count: 2, interval: Duration.seconds(2), plateau: Duration.seconds(30) },
        { create: (n) => (n === 2 ? "hang" : { status: 201, body: { session_id: `s-${n}`, expiration: 1_000 } }) }
      )
      yield* TestClock.adjust("5 seconds")
      const interrupter = yield* Effect.fork(Fiber.interrupt(run.fiber))
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* run.calls("/session/end"), [[`${worker(1)}/session/end`, 5_000]])
      assert.deepStrictEqual((yield* run.names).slice(-5), ["interrupted", "in_flight", "shutdown", "ending", "ended"])
      assert.deepInclude((yield* run.named("in_flight"))[0], { creates: 1, ends: 0 })
      assert.isNull(interrupter.unsafePoll(), "the create in flight is still waited for")
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(interrupter)
      assert.deepInclude((yield* run.named("done"))[0], { created: 1, ended: 1, failures: 0, interrupted: true })
    })
  )

  it.effect("interrupted while an end hangs in the ramp-down, the other open session is ended at once beside it (probe 51 F1b)", () =>
    Effect.gen(function* () {
      // The plateau ends at 3 s: #1's end (3 s) hangs; Ctrl-C at 4 s, while #2 is still held.
      const run = yield* start(
        { _tag: "Demo", count: 2, interval: Duration.seconds(2), plateau: Duration.seconds(1) },
        { end: (call) => (call === 1 ? "hang" : { status: 200, body: { ended: true } }) }
      )
      yield* TestClock.adjust("4 seconds")
      const interrupter = yield* Effect.fork(Fiber.interrupt(run.fiber))
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* run.calls("/session/end"), [
        [`${worker(1)}/session/end`, 3_000],
        [`${worker(2)}/session/end`, 4_000]
      ])
      assert.deepInclude((yield* run.named("in_flight"))[0], { creates: 0, ends: 1 })
      assert.deepInclude((yield* run.named("ended"))[0], { session_id: "s-2" })
      yield* TestClock.adjust("1 minute")
      yield* Fiber.await(interrupter)
    })
  )

  it.effect("a reservation that times out is a failure; the others are still held and ended", () =>
    Effect.gen(function* () {
      const waiting = { endpoint: ENDPOINT_NAME, request_idx: 2 }
      const run = yield* start(
        { _tag: "Demo", count: 3, interval: Duration.seconds(1), plateau: Duration.seconds(5) },
        { route: (idx) => (idx === 2 ? waiting : undefined) },
        { routeTimeout: "10 seconds" }
      )
      yield* TestClock.adjust("1 minute")
      const error = yield* Effect.flip(Fiber.join(run.fiber))
      assert.deepInclude(error, { _tag: "RunFailed", failures: 1 })
      assert.deepStrictEqual((yield* run.calls("/session/end")).map(([url]) => url), [`${worker(1)}/session/end`, `${worker(3)}/session/end`])
      assert.deepInclude((yield* run.named("error"))[0], { operation: "route", reservation: 2, fatal: true })
      assert.deepInclude((yield* run.named("done"))[0], { created: 2, ended: 2, failures: 1 })
    })
  )
})
