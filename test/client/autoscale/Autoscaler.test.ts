import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Exit, Fiber, HashMap, Layer, Option, Ref, TestClock } from "effect"
import { AutoscaleReporter } from "../../../src/client/autoscale/AutoscaleReporter.js"
import { type AutoscalerSettings, runAutoscaler } from "../../../src/client/autoscale/Autoscaler.js"
import { type AutoscaleEvent, describeAutoscale } from "../../../src/client/autoscale/events.js"
import { Holdings, type HoldingsPolicy } from "../../../src/client/autoscale/Holdings.js"
import type { PlannerSettings } from "../../../src/client/autoscale/planner.js"
import { RedisFailed } from "../../../src/client/autoscale/redis.js"
import { WORKER_GONE } from "../../../src/client/workerGone.js"
import { readThrough } from "../../support/clock.js"
import type { BacklogReading } from "../../../src/client/autoscale/scalingRule.js"
import { StateStore } from "../../../src/client/autoscale/StateStore.js"
import {
  ENDPOINT,
  fakeBacklog,
  HUNG_CALL_MS,
  fakeVast,
  keptNow,
  makeMemoryState,
  makeWorld,
  type MemoryState,
  memoryStore,
  openSessions,
  setSession,
  type VastWorld
} from "./fakes.js"

const planner: PlannerSettings = {
  jobsPerWorker: 1,
  min: 0,
  max: 10,
  activation: 0,
  cooldownMs: 3_000,
  scaleOutStep: 2,
  scaleOutWindowMs: 1_000,
  retryBaseMs: 1_000,
  retryMaxMs: 8_000
}

const policy: HoldingsPolicy = { cost: 100, lifetime: 4, pingEvery: "1 second", routeTimeout: "30 seconds" }

interface Harness {
  readonly world: VastWorld
  readonly state: MemoryState
  readonly reading: Ref.Ref<BacklogReading | null>
  readonly events: Ref.Ref<ReadonlyArray<AutoscaleEvent>>
}

const makeHarness = Effect.gen(function* () {
  const harness: Harness = {
    world: yield* makeWorld,
    state: yield* makeMemoryState,
    reading: yield* Ref.make<BacklogReading | null>({ waiting: 0, inFlight: 0 }),
    events: yield* Ref.make<ReadonlyArray<AutoscaleEvent>>([])
  }
  return harness
})

/** The daemon over the harness' fakes, forked; interrupt the fiber to stop it (a graceful stop). */
const startDaemon = (
  harness: Harness,
  overrides: {
    readonly token?: string
    readonly planner?: Partial<PlannerSettings>
    readonly policy?: Partial<HoldingsPolicy>
    /** Answers to the ownership claims, in turn (then the store's own): a Redis that fails at start. */
    readonly claimFailures?: ReadonlyArray<RedisFailed>
    /** While true, every save of a session's record fails. */
    readonly savesFail?: Ref.Ref<boolean>
    /** While true, every ownership claim fails (after those of `claimFailures`). */
    readonly claimsFail?: Ref.Ref<boolean>
    /** The clock the daemon (and the fakes it is given) reads, from the test's own. */
    readonly clock?: (clock: Clock.Clock) => Clock.Clock
    /** Every removal of a session's record hangs (a Redis that stopped answering). */
    readonly removesHang?: boolean
  } = {}
) => {
  const settings: AutoscalerSettings = {
    endpoint: ENDPOINT.name,
    prefix: "jobs:autoscale",
    planner: { ...planner, ...overrides.planner },
    interval: "250 millis",
    leaseMs: 1_000,
    ownerTtlMs: 2_000,
    token: overrides.token ?? "daemon-1"
  }
  const app = Holdings.layer({ ...policy, ...overrides.policy }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        fakeVast(harness.world),
        failingClaims(memoryStore(harness.state), overrides.claimFailures ?? [], overrides.savesFail, overrides.claimsFail, overrides.removesHang),
        AutoscaleReporter.layerRecording(harness.events)
      )
    ),
    Layer.merge(fakeBacklog(harness.reading))
  )
  const run = runAutoscaler(settings).pipe(Effect.provide(app))
  const clock = overrides.clock
  return Effect.fork(clock === undefined ? run : Effect.flatMap(Effect.clock, (own) => Effect.withClock(run, clock(own))))
}

/** `store`, its first ownership claims failing with `failures`, in turn, its claims while `claimsFail` holds, and its saves while `savesFail` holds. */
const failingClaims = (
  store: Layer.Layer<StateStore>,
  failures: ReadonlyArray<RedisFailed>,
  savesFail?: Ref.Ref<boolean>,
  claimsFail?: Ref.Ref<boolean>,
  removesHang = false
): Layer.Layer<StateStore> =>
  Layer.effect(
    StateStore,
    Effect.gen(function* () {
      const inner = yield* Effect.provide(StateStore, store)
      let next = 0
      return StateStore.of({
        ...inner,
        claimOwner: (token, ttlMs) =>
          Effect.flatMap(claimsFail === undefined ? Effect.succeed(false) : Ref.get(claimsFail), (failing) =>
            Effect.suspend(() => {
              const failure = failures[next++] ?? (failing ? new RedisFailed({ command: "EVALSHA", detail: "connection lost" }) : undefined)
              return failure === undefined ? inner.claimOwner(token, ttlMs) : Effect.fail(failure)
            })
          ),
        save: (record) =>
          Effect.flatMap(savesFail === undefined ? Effect.succeed(false) : Ref.get(savesFail), (fails) =>
            fails ? Effect.fail(new RedisFailed({ command: "HSET", detail: "connection lost" })) : inner.save(record)
          ),
        remove: (sessionId) => (removesHang ? Effect.never : inner.remove(sessionId))
      })
    })
  )

/** A fresh harness whose backlog reads `reading`, with the daemon started on it. */
const daemonReading = (reading: BacklogReading, overrides?: Parameters<typeof startDaemon>[1]) =>
  Effect.gen(function* () {
    const harness = yield* makeHarness
    yield* Ref.set(harness.reading, reading)
    const daemon = yield* startDaemon(harness, overrides)
    return { harness, daemon }
  })

/** The daemon for one waiting message, its first `count` reserve calls failing or dying (routes take 100 ms). */
const startTroubled = (trouble: "failingReserves" | "dyingReserves", count: number) =>
  Effect.gen(function* () {
    const harness = yield* makeHarness
    yield* Ref.set(harness.world.routeDelay, Duration.millis(100))
    yield* Ref.set(harness.world[trouble], count)
    yield* Ref.set(harness.reading, { waiting: 1, inFlight: 0 })
    yield* startDaemon(harness)
    return harness
  })

/** Move the TestClock forward in small steps, so that every fiber gets its turn. */
const advance = (ms: number) => Effect.forEach(Array.from({ length: Math.ceil(ms / 125) }), () => TestClock.adjust("125 millis"), { discard: true })

const eventsNamed = <N extends AutoscaleEvent["event"]>(harness: Harness, name: N) =>
  Effect.map(Ref.get(harness.events), (all) => all.filter((event): event is Extract<AutoscaleEvent, { event: N }> => event.event === name))

describe("the autoscale daemon (TestClock, fake Vast, fake Redis)", () => {
  it.scoped("activation from zero: nothing while the queue is empty, one reservation for one message", () =>
    Effect.gen(function* () {
      const harness = yield* makeHarness
      yield* startDaemon(harness)
      yield* advance(2_000)
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 0)
      yield* Ref.set(harness.reading, { waiting: 1, inFlight: 0 })
      yield* advance(300)
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 1)
      yield* advance(5_000)
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 1)
      assert.deepStrictEqual(yield* openSessions(harness.world), ["s-1"])
      assert.deepStrictEqual(yield* keptNow(harness.state), ["s-1"])
      assert.strictEqual(HashMap.size(yield* Ref.get(harness.state.records)), 1)
      assert.isAbove((yield* eventsNamed(harness, "pinged")).length, 3)
      assert.deepStrictEqual(yield* Ref.get(harness.world.ends), [])
    })
  )

  it.scoped("a worker that answers with a session id the daemon holds already: its create is refused and its session ended, the reservation goes to another worker, both are held", () =>
    Effect.gen(function* () {
      const harness = yield* makeHarness
      // Worker 2 answers with worker 1's id: kept by id, it would replace worker 1's record and pinger, and be reserved again.
      yield* Ref.set(harness.world.answeredIds, new Map([[2, "s-1"]]))
      yield* Ref.set(harness.reading, { waiting: 2, inFlight: 0 })
      yield* startDaemon(harness)
      yield* advance(5_000)
      assert.deepStrictEqual(yield* Ref.get(harness.world.ends), ["s-1 on https://10.0.0.2:4000"])
      const created = (yield* eventsNamed(harness, "created")).map((event) => `${event.session_id} on ${event.url}`).sort()
      assert.deepStrictEqual(created, ["s-1 on https://10.0.0.1:4000", "s-3 on https://10.0.0.3:4000"])
      const records = Array.from(HashMap.values(yield* Ref.get(harness.state.records)), (record) => `${record.session_id} on ${record.url}`).sort()
      assert.deepStrictEqual(records, created)
      const errors = yield* eventsNamed(harness, "error")
      assert.deepStrictEqual(errors.map((event) => [event.operation, event.session_id]), [["session/create", "s-1"]])
      assert.include(errors[0]?.message, "session id s-1 is one this client already holds on https://10.0.0.1:4000; this worker's session was ended at once")
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 2, "no reservation beyond the two the backlog asks for")
      assert.isAbove((yield* eventsNamed(harness, "pinged")).filter((event) => event.session_id === "s-3").length, 2)
    })
  )

  it.scoped("scale-out is capped: at most 2 new reservations per second, up to max", () =>
    Effect.gen(function* () {
      const { harness } = yield* daemonReading({ waiting: 100, inFlight: 0 })
      yield* advance(8_000)
      const starts = yield* Ref.get(harness.world.reserves)
      assert.strictEqual(starts.length, 10)
      for (const at of starts) assert.isAtMost(starts.filter((other) => other > at - 1_000 && other <= at).length, 2)
      assert.isAtLeast((starts.at(-1) ?? 0) - (starts[0] ?? 0), 4_000)
      assert.strictEqual((yield* openSessions(harness.world)).length, 10)
      const limited = yield* eventsNamed(harness, "scale")
      assert.isTrue(limited.some((event) => event.limited === "rate"))
    })
  )

  it.scoped("scale-out, cool-down and back-off are measured on the clock that never steps: the wall clock stepped back or forward an hour changes none (review 45 M1)", () =>
    Effect.gen(function* () {
      /** The test's clock, its wall reading moved by `by.offset` ms (what NTP's step does), its timers and monotonic reading not. */
      const stepped = (by: { offset: number }) => (clock: Clock.Clock) => readThrough(clock, (millis) => millis + by.offset)
      // Stepped back after two starts: scale-out goes on at its rate, not an hour later.
      const back = { offset: 0 }
      const { harness: behind } = yield* daemonReading({ waiting: 2, inFlight: 0 }, { clock: stepped(back) })
      yield* advance(500)
      assert.strictEqual((yield* Ref.get(behind.world.reserves)).length, 2)
      back.offset = -3_600_000
      yield* Ref.set(behind.reading, { waiting: 6, inFlight: 0 })
      yield* advance(3_000)
      assert.strictEqual((yield* Ref.get(behind.world.reserves)).length, 6)
      // Stepped forward once the backlog is gone: the idle workers stay protected for the cool-down.
      const forward = { offset: 0 }
      const { harness: ahead } = yield* daemonReading({ waiting: 3, inFlight: 0 }, { clock: stepped(forward) })
      yield* advance(2_000)
      assert.strictEqual((yield* openSessions(ahead.world)).length, 3)
      yield* Ref.set(ahead.reading, { waiting: 0, inFlight: 0 })
      forward.offset = 3_600_000
      yield* advance(1_000)
      assert.strictEqual((yield* Ref.get(ahead.state.keep)).ids.length, 3, "protected during the cool-down")
      // And a failed reservation's back-off (1 s) is not stretched by a step made while its route was waiting.
      const failing = { offset: 0 }
      const troubled = yield* makeHarness
      yield* Ref.set(troubled.world.routeDelay, Duration.millis(500))
      yield* Ref.set(troubled.world.failingReserves, 1)
      yield* Ref.set(troubled.reading, { waiting: 1, inFlight: 0 })
      yield* startDaemon(troubled, { clock: stepped(failing) })
      yield* advance(250)
      failing.offset = 3_600_000
      yield* advance(2_500)
      assert.strictEqual((yield* openSessions(troubled.world)).length, 1)
    })
  )

  it.scoped("a session released by its consumer is said closed and no longer held even while its record's removal hangs (review 45 I3)", () =>
    Effect.gen(function* () {
      const { harness } = yield* daemonReading({ waiting: 1, inFlight: 0 }, { removesHang: true })
      yield* advance(1_000)
      const [id] = yield* openSessions(harness.world)
      yield* Ref.set(harness.reading, { waiting: 0, inFlight: 0 })
      yield* setSession(harness.world, id ?? "", "closed")
      yield* advance(1_500)
      assert.deepStrictEqual((yield* eventsNamed(harness, "closed")).map((event) => event.session_id), [id])
    })
  )

  it.scoped("cool-down: idle workers stay protected for the cool-down, then consumers release them; the daemon ends none", () =>
    Effect.gen(function* () {
      const { harness } = yield* daemonReading({ waiting: 3, inFlight: 0 })
      yield* advance(3_000)
      assert.strictEqual((yield* openSessions(harness.world)).length, 3)
      yield* Ref.set(harness.reading, { waiting: 0, inFlight: 0 })
      yield* advance(2_500)
      assert.strictEqual((yield* keptNow(harness.state)).length, 3, "protected during the cool-down")
      yield* advance(1_000)
      assert.deepStrictEqual(yield* keptNow(harness.state), [], "no longer protected after it")
      // The consumers, idle and unprotected, release their workers: the next pings get 410.
      for (const id of yield* openSessions(harness.world)) yield* setSession(harness.world, id, "closed")
      yield* advance(1_500)
      const closed = yield* eventsNamed(harness, "closed")
      assert.strictEqual(closed.length, 3)
      assert.strictEqual(HashMap.size(yield* Ref.get(harness.state.records)), 0)
      yield* advance(5_000)
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 3, "a release is not replaced while nothing waits")
      assert.deepStrictEqual(yield* Ref.get(harness.world.ends), [])
    })
  )

  it.scoped("a busy reservation is never ended: when the backlog drops only reservations without a session are cancelled", () =>
    Effect.gen(function* () {
      const harness = yield* makeHarness
      yield* Ref.set(harness.world.routeDelay, Duration.seconds(6))
      yield* Ref.set(harness.reading, { waiting: 0, inFlight: 4 })
      yield* startDaemon(harness)
      yield* advance(1_500)
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 4)
      // Three consumers finish; one is still mid-job. After the cool-down three reservations are surplus.
      yield* Ref.set(harness.reading, { waiting: 0, inFlight: 1 })
      yield* advance(12_000)
      // The newest first (planner.ts): the oldest, nearest to a worker, is kept.
      assert.deepStrictEqual((yield* eventsNamed(harness, "cancelled")).map((event) => event.reservation), [4, 3, 2])
      assert.deepStrictEqual(yield* eventsNamed(harness, "error"), [], "a cancelled reservation did not fail")
      assert.strictEqual((yield* eventsNamed(harness, "created")).length, 1)
      assert.strictEqual((yield* openSessions(harness.world)).length, 1)
      assert.deepStrictEqual(yield* Ref.get(harness.world.ends), [])
    })
  )

  it.scoped("restart: a new daemon re-adopts the sessions that answer, forgets the gone ones, and starts nothing it holds already", () =>
    Effect.gen(function* () {
      const { harness, daemon: first } = yield* daemonReading({ waiting: 4, inFlight: 0 }, { policy: { lifetime: 30 } })
      yield* advance(3_000)
      assert.deepStrictEqual((yield* openSessions(harness.world)).sort(), ["s-1", "s-2", "s-3", "s-4"])
      // As if the first daemon had been killed: its records stay, and so does its ownership until it lapses.
      yield* Fiber.interrupt(first)
      const now = yield* Clock.currentTimeMillis
      yield* Ref.set(harness.state.owner, { token: "daemon-1", until: now + 2_000 })
      // While it was away: s-2's consumer released it; s-3's worker went silent and its deadline passed; s-4's went
      // silent and its record says a deadline no ping gives, a day away (probe 46 L: held for good before).
      yield* setSession(harness.world, "s-2", "closed")
      yield* setSession(harness.world, "s-3", "silent")
      yield* setSession(harness.world, "s-4", "silent")
      yield* Ref.update(harness.state.records, (all) =>
        HashMap.modify(HashMap.modify(all, "s-3", (record) => ({ ...record, expiration: now / 1000 - 1 })), "s-4", (record) => ({ ...record, expiration: now / 1000 + 86_400 }))
      )
      yield* Ref.set(harness.reading, { waiting: 0, inFlight: 1 })
      const reservesBefore = (yield* Ref.get(harness.world.reserves)).length
      yield* Ref.set(harness.events, [])
      yield* startDaemon(harness, { token: "daemon-2", policy: { lifetime: 30 } })
      yield* advance(1_000)
      assert.strictEqual((yield* eventsNamed(harness, "standby")).length, 1, "waits while the old ownership lasts")
      assert.strictEqual((yield* eventsNamed(harness, "adopted")).length, 0)
      yield* advance(3_000)
      assert.deepStrictEqual((yield* eventsNamed(harness, "adopted")).map((event) => event.session_id), ["s-1"])
      assert.deepStrictEqual((yield* eventsNamed(harness, "forgotten")).map((event) => event.session_id).sort(), ["s-2", "s-3", "s-4"])
      assert.deepStrictEqual(Array.from(HashMap.keys(yield* Ref.get(harness.state.records))), ["s-1"])
      assert.deepStrictEqual(yield* keptNow(harness.state), ["s-1"])
      yield* advance(5_000)
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, reservesBefore, "the adopted session covers the backlog")
      assert.deepStrictEqual(yield* Ref.get(harness.world.ends), [])
      // A new reservation is numbered past every adopted one: no two sessions share a number in the events and records.
      const adopted = (yield* eventsNamed(harness, "adopted")).map((event) => event.reservation)
      yield* Ref.set(harness.reading, { waiting: 1, inFlight: 1 })
      yield* advance(2_000)
      const reserved = (yield* eventsNamed(harness, "reserving")).map((event) => event.reservation)
      assert.lengthOf(reserved, 1)
      assert.isAbove(reserved[0] ?? 0, Math.max(...adopted))
    })
  )

  it.scoped("restart: recorded sessions whose workers hang are pinged all at once, so that routing starts after one call's time-out, not one per eight of them (probe 45 I1)", () =>
    Effect.gen(function* () {
      const wide = { max: 30, scaleOutStep: 30 }
      const { harness, daemon: first } = yield* daemonReading({ waiting: 24, inFlight: 0 }, { policy: { lifetime: 60 }, planner: wide })
      yield* advance(3_000)
      const held = yield* openSessions(harness.world)
      assert.lengthOf(held, 24)
      yield* Fiber.interrupt(first)
      for (const id of held) yield* setSession(harness.world, id, "hung")
      yield* Ref.set(harness.reading, { waiting: 1, inFlight: 24 })
      yield* Ref.set(harness.events, [])
      yield* startDaemon(harness, { token: "daemon-2", policy: { lifetime: 60 }, planner: wide })
      yield* advance(HUNG_CALL_MS - 500)
      assert.lengthOf(yield* eventsNamed(harness, "adopted"), 0, "every ping is still waiting")
      assert.lengthOf(yield* eventsNamed(harness, "reserving"), 0)
      yield* advance(1_500)
      assert.lengthOf(yield* eventsNamed(harness, "adopted"), 24)
      // Held until their deadlines, but unreachable: the backlog gets workers that answer.
      assert.isAbove((yield* eventsNamed(harness, "reserving")).length, 0)
    })
  )

  it.scoped("an endpoint lookup the webserver refuses for the key (401, 403) ends the daemon at once; a 503 is tried again", () =>
    Effect.gen(function* () {
      for (const status of [401, 403]) {
        const harness = yield* makeHarness
        yield* Ref.set(harness.world.lookupStatuses, [503, status])
        const daemon = yield* startDaemon(harness)
        yield* advance(5_000)
        const exit = yield* Fiber.await(daemon)
        assert.isTrue(Exit.isFailure(exit), `${status}: the daemon stopped`)
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        assert.deepInclude(Option.getOrUndefined(failure), { _tag: "UnexpectedResponse", status })
        // The 503 was said once, with the retry; then the refusal, as a fatal event (a --json reader's reason).
        assert.deepStrictEqual(
          (yield* eventsNamed(harness, "error")).map((event) => [event.message, "fatal" in event ? event.fatal : undefined]),
          [
            ["endpoint lookup: https://console.test/api/v0/endptjobs/ answered 503: status 503 (trying again until it works)", undefined],
            [`endpoint lookup: https://console.test/api/v0/endptjobs/ answered ${status}: status ${status} (check VAST_API_KEY; the local serverless takes its --api-key or SERVERLESS_API_KEY)`, true]
          ]
        )
        assert.lengthOf(yield* Ref.get(harness.world.reserves), 0)
      }
    })
  )

  it.scoped("a graceful stop leaves the sessions recorded and gives ownership up at once", () =>
    Effect.gen(function* () {
      const { harness, daemon: daemon } = yield* daemonReading({ waiting: 2, inFlight: 0 })
      yield* advance(2_500)
      yield* Fiber.interrupt(daemon)
      assert.strictEqual(HashMap.size(yield* Ref.get(harness.state.records)), 2)
      assert.isNull(yield* Ref.get(harness.state.owner))
      assert.deepStrictEqual((yield* eventsNamed(harness, "stopped")).map((event) => event.held), [2])
      assert.deepStrictEqual(yield* Ref.get(harness.world.ends), [])
    })
  )

  it.scoped("a stop while a create's answer is on its way: the session the worker made is registered and recorded, not lost (review 41 M2)", () =>
    Effect.gen(function* () {
      const harness = yield* makeHarness
      // Routed in 500 ms; the worker then holds the session, and its answer takes 2 s more.
      yield* Ref.set(harness.world.createAnswerDelay, Duration.seconds(2))
      yield* Ref.set(harness.reading, { waiting: 1, inFlight: 0 })
      const daemon = yield* startDaemon(harness)
      yield* advance(1_000)
      assert.strictEqual((yield* openSessions(harness.world)).length, 1)
      assert.deepStrictEqual(yield* eventsNamed(harness, "created"), [])
      // The stop waits for the answer (the clock must move while it does).
      const stopping = yield* Effect.fork(Fiber.interrupt(daemon))
      yield* advance(3_000)
      yield* Fiber.join(stopping)
      assert.strictEqual(HashMap.size(yield* Ref.get(harness.state.records)), 1)
      assert.deepStrictEqual((yield* eventsNamed(harness, "stopped")).map((event) => event.held), [1])
    })
  )

  it.scoped("the backlog drops while a create's answer is on its way: that reservation is not cancelled, and its session is held (review 41 M2)", () =>
    Effect.gen(function* () {
      const harness = yield* makeHarness
      yield* Ref.set(harness.world.createAnswerDelay, Duration.seconds(8))
      yield* Ref.set(harness.reading, { waiting: 1, inFlight: 0 })
      yield* startDaemon(harness)
      yield* advance(1_000)
      assert.strictEqual((yield* openSessions(harness.world)).length, 1)
      // Past the cool-down (3 s) with the answer still on its way: the reservation is surplus, but busy.
      yield* Ref.set(harness.reading, { waiting: 0, inFlight: 0 })
      yield* advance(10_000)
      assert.deepStrictEqual(yield* eventsNamed(harness, "cancelled"), [])
      assert.strictEqual((yield* eventsNamed(harness, "created")).length, 1)
    })
  )

  it.scoped("a stop says which held sessions could not be recorded (Redis down), and a save that works again counts them recorded", () =>
    Effect.gen(function* () {
      const savesFail = yield* Ref.make(true)
      const { harness, daemon } = yield* daemonReading({ waiting: 2, inFlight: 0 }, { savesFail })
      yield* advance(2_500)
      yield* Fiber.interrupt(daemon)
      const [stopped] = yield* eventsNamed(harness, "stopped")
      assert.deepInclude(stopped, { held: 2, unrecorded: 2 })
      assert.include(stopped === undefined ? "" : describeAutoscale(stopped), "2 could not be recorded, so the next start cannot adopt them")
      assert.strictEqual(HashMap.size(yield* Ref.get(harness.state.records)), 0)

      const recovers = yield* Ref.make(true)
      const again = yield* daemonReading({ waiting: 1, inFlight: 0 }, { savesFail: recovers })
      yield* advance(500)
      assert.strictEqual((yield* eventsNamed(again.harness, "created")).length, 1)
      assert.strictEqual(HashMap.size(yield* Ref.get(again.harness.state.records)), 0)
      yield* Ref.set(recovers, false)
      // The next ping's save (every second) records it after all.
      yield* advance(2_000)
      yield* Fiber.interrupt(again.daemon)
      assert.strictEqual(HashMap.size(yield* Ref.get(again.harness.state.records)), 1)
      const [last] = yield* eventsNamed(again.harness, "stopped")
      assert.deepInclude(last, { held: 1, unrecorded: 0 })
      assert.strictEqual(last === undefined ? "" : describeAutoscale(last), "stopped (1 session(s) open at their last ping, recorded for the next start)")
    })
  )

  it.scoped("the autoscaler briefly down: failed reservations back off 1 s, 2 s, 4 s, then one succeeds", () =>
    Effect.gen(function* () {
      const harness = yield* startTroubled("failingReserves", 3)
      yield* advance(12_000)
      const starts = yield* Ref.get(harness.world.reserves)
      assert.strictEqual(starts.length, 4)
      const gaps = starts.slice(1).map((at, i) => at - (starts[i] ?? 0))
      assert.isAtLeast(gaps[0] ?? 0, 1_000)
      assert.isAtLeast(gaps[1] ?? 0, 2_000)
      assert.isAtLeast(gaps[2] ?? 0, 4_000)
      assert.strictEqual((yield* eventsNamed(harness, "error")).filter((event) => event.operation === "reserve").length, 3)
      assert.deepStrictEqual(yield* openSessions(harness.world), ["s-1"])
      // The success ended the streak: a later outage backs off from 1 s again, not from where the last one stopped.
      yield* Ref.set(harness.world.failingReserves, 1)
      yield* Ref.set(harness.reading, { waiting: 2, inFlight: 0 })
      yield* advance(4_000)
      const later = (yield* Ref.get(harness.world.reserves)).slice(4)
      assert.strictEqual(later.length, 2)
      assert.isBelow((later[1] ?? 0) - (later[0] ?? 0), 2_000)
      assert.sameMembers([...(yield* openSessions(harness.world))], ["s-1", "s-2"])
    })
  )

  it.scoped("a reservation that dies is reported (one line) and backs off like a failed one; the next one succeeds", () =>
    Effect.gen(function* () {
      const harness = yield* startTroubled("dyingReserves", 1)
      yield* advance(4_000)
      const errors = yield* eventsNamed(harness, "error")
      assert.deepStrictEqual(
        errors.map((event) => [event.operation, event.reservation, event.message]),
        [["reserve", 1, 'TypeError: Protocol "ftp:" not supported. Expected "http:"']]
      )
      const starts = yield* Ref.get(harness.world.reserves)
      assert.strictEqual(starts.length, 2)
      assert.isAtLeast((starts[1] ?? 0) - (starts[0] ?? 0), 1_000, "backed off as after a failure")
      assert.deepStrictEqual(yield* openSessions(harness.world), ["s-1"])
    })
  )

  it.scoped("a keep-alive that dies is reported and started again: the session is still pinged and held", () =>
    Effect.gen(function* () {
      const { harness } = yield* daemonReading({ waiting: 1, inFlight: 0 })
      yield* advance(1_000)
      assert.deepStrictEqual(yield* openSessions(harness.world), ["s-1"])
      const pingedBefore = (yield* eventsNamed(harness, "pinged")).length
      yield* Ref.set(harness.world.dyingPings, 1)
      yield* advance(6_000)
      const errors = yield* eventsNamed(harness, "error")
      assert.deepStrictEqual(
        errors.map((event) => [event.operation, event.reservation, event.session_id, event.message]),
        [["keep-alive", 1, "s-1", "crashed (TypeError: Cannot read properties of undefined (reading 'expiration')); starting it again in 1s"]]
      )
      assert.isAbove((yield* eventsNamed(harness, "pinged")).length, pingedBefore + 1, "pinged again after the crash")
      assert.deepStrictEqual(yield* keptNow(harness.state), ["s-1"])
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 1)
    })
  )

  it.scoped("a Redis that fails at start is said once per reason while the daemon retries; then it takes ownership", () =>
    Effect.gen(function* () {
      const harness = yield* makeHarness
      const refused = new RedisFailed({ command: "SET", detail: "no connection to redis://127.0.0.1:6379 (connect ECONNREFUSED)" })
      const reset = new RedisFailed({ command: "SET", detail: "no connection to redis://127.0.0.1:6379 (read ECONNRESET)" })
      yield* startDaemon(harness, { claimFailures: [refused, refused, refused, reset, reset] })
      yield* advance(30_000)
      const errors = yield* eventsNamed(harness, "error")
      assert.deepStrictEqual(
        errors.map((event) => [event.operation, event.message]),
        [
          ["claim ownership", `${refused.message} (trying again until it works)`],
          ["claim ownership", `${reset.message} (trying again until it works)`]
        ]
      )
      assert.strictEqual((yield* Ref.get(harness.state.owner))?.token, "daemon-1")
    })
  )

  it.scoped("a claim of ownership that fails while running: it starts and cancels nothing until it can claim again (another daemon may own the reservations by then), and says so once (review 37 Info)", () =>
    Effect.gen(function* () {
      const harness = yield* makeHarness
      const claimsFail = yield* Ref.make(false)
      yield* startDaemon(harness, { claimsFail })
      yield* advance(2_000)
      yield* Ref.set(claimsFail, true)
      const lease = (yield* Ref.get(harness.state.keep)).until
      yield* Ref.set(harness.reading, { waiting: 3, inFlight: 0 })
      yield* advance(5_000)
      assert.deepStrictEqual(yield* Ref.get(harness.world.reserves), [])
      assert.strictEqual((yield* Ref.get(harness.state.keep)).until, lease, "no keep set published meanwhile")
      assert.deepStrictEqual((yield* eventsNamed(harness, "error")).map((event) => event.operation), ["claim ownership"])
      yield* Ref.set(claimsFail, false)
      yield* advance(3_000)
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 3)
    })
  )

  it.scoped("Redis down: nothing is started or cancelled, the lease keeps protecting, the error is said once", () =>
    Effect.gen(function* () {
      const { harness } = yield* daemonReading({ waiting: 2, inFlight: 0 })
      yield* advance(2_500)
      yield* Ref.set(harness.reading, null)
      yield* advance(6_000)
      assert.strictEqual((yield* keptNow(harness.state)).length, 2)
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 2)
      assert.strictEqual((yield* eventsNamed(harness, "error")).filter((event) => event.operation === "read backlog").length, 1)
      yield* Ref.set(harness.reading, { waiting: 4, inFlight: 0 })
      yield* advance(1_500)
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 4)
    })
  )

  it.scoped("Redis down for both the backlog and the keep lease, which fail in turn every tick: each said once while it lasts, again after it was over", () =>
    Effect.gen(function* () {
      const { harness } = yield* daemonReading({ waiting: 1, inFlight: 0 })
      yield* advance(2_500)
      const down = Effect.zipRight(Ref.set(harness.reading, null), Ref.set(harness.state.publishDown, true))
      const errorsOf = Effect.map(eventsNamed(harness, "error"), (events) => events.map((event) => event.operation))
      yield* down
      yield* advance(10_000)
      assert.deepStrictEqual(yield* errorsOf, ["read backlog", "publish keep lease"])
      // Back for a moment, then down again: a new outage, said again.
      yield* Ref.set(harness.reading, { waiting: 1, inFlight: 0 })
      yield* Ref.set(harness.state.publishDown, false)
      yield* advance(1_500)
      yield* down
      yield* advance(10_000)
      assert.deepStrictEqual(yield* errorsOf, ["read backlog", "publish keep lease", "read backlog", "publish keep lease"])
    })
  )

  it.scoped("a ping that gets no answer is tried again within 5 s, not a whole ping interval later (at half the lifetime, that is the deadline) (review 39 M1)", () =>
    Effect.gen(function* () {
      const { harness } = yield* daemonReading({ waiting: 1, inFlight: 0 }, { policy: { lifetime: 20, pingEvery: "10 seconds" } })
      yield* advance(1_000)
      assert.deepStrictEqual(yield* openSessions(harness.world), ["s-1"])
      yield* setSession(harness.world, "s-1", "silent")
      yield* advance(10_000)
      assert.deepStrictEqual((yield* eventsNamed(harness, "error")).map((event) => event.operation), ["ping"])
      yield* setSession(harness.world, "s-1", "open")
      yield* advance(5_000)
      assert.lengthOf(yield* eventsNamed(harness, "pinged"), 1, "pinged again 5 s after the failure")
      // Then every 10 s again, not every 5 (s-1's: while it did not answer, a replacement was reserved).
      const pingsOfFirst = Effect.map(eventsNamed(harness, "pinged"), (all) => all.filter((event) => event.session_id === "s-1").length)
      yield* advance(5_000)
      assert.strictEqual(yield* pingsOfFirst, 1, "no ping 5 s after the one that answered")
      yield* advance(5_000)
      assert.strictEqual(yield* pingsOfFirst, 2, "the next 10 s after it")
      // Answering again, it is no longer taken for unreachable: protected in the keep set, and a new silence is said again.
      assert.include(yield* keptNow(harness.state), "s-1")
      yield* setSession(harness.world, "s-1", "silent")
      yield* advance(10_000)
      assert.deepStrictEqual((yield* eventsNamed(harness, "error")).map((event) => event.operation), ["ping", "ping"])
    })
  )

  it.scoped("a worker whose port refuses twice, a second apart, has stopped: its session is forgotten then, long before its deadline; one refusal is not enough", () =>
    Effect.gen(function* () {
      const { harness } = yield* daemonReading({ waiting: 1, inFlight: 0 }, { policy: { lifetime: 30 } })
      yield* advance(2_500)
      assert.deepStrictEqual(yield* openSessions(harness.world), ["s-1"])
      // A forwarder's blip: one ping refused, the same ping a second later answered.
      yield* Ref.set(harness.world.refusedPings, 1)
      yield* advance(3_000)
      assert.deepStrictEqual(yield* eventsNamed(harness, "closed"), [], "held through one refusal")
      assert.deepStrictEqual(yield* eventsNamed(harness, "error"), [], "and nothing said: the second asking answered")
      assert.strictEqual(yield* Ref.get(harness.world.refusedPings), 0, "the refused ping was made")
      yield* setSession(harness.world, "s-1", "gone")
      const goneAt = yield* Clock.currentTimeMillis
      yield* advance(2_500)
      const closed = yield* eventsNamed(harness, "closed")
      assert.deepStrictEqual(closed.map((event) => [event.session_id, event.reason]), [["s-1", WORKER_GONE]])
      assert.isBelow((yield* Clock.currentTimeMillis) - goneAt, 30_000 - 2_500, "well before its deadline")
      assert.deepStrictEqual(Array.from(HashMap.keys(yield* Ref.get(harness.state.records))), [], "its record removed")
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 2, "the message waiting still: another reserved")
      assert.deepStrictEqual(yield* Ref.get(harness.world.ends), [])
    })
  )

  it.scoped("restart: a recorded session whose worker's port refuses twice is forgotten, not held until its deadline", () =>
    Effect.gen(function* () {
      const { harness, daemon: first } = yield* daemonReading({ waiting: 2, inFlight: 0 }, { policy: { lifetime: 30 } })
      yield* advance(3_000)
      assert.deepStrictEqual((yield* openSessions(harness.world)).sort(), ["s-1", "s-2"])
      yield* Fiber.interrupt(first)
      yield* setSession(harness.world, "s-2", "gone")
      yield* Ref.set(harness.reading, { waiting: 0, inFlight: 1 })
      yield* Ref.set(harness.events, [])
      yield* startDaemon(harness, { token: "daemon-2", policy: { lifetime: 30 } })
      yield* advance(4_000)
      assert.deepStrictEqual((yield* eventsNamed(harness, "adopted")).map((event) => event.session_id), ["s-1"])
      assert.deepStrictEqual((yield* eventsNamed(harness, "forgotten")).map((event) => [event.session_id, event.reason]), [["s-2", WORKER_GONE]])
      assert.deepStrictEqual(Array.from(HashMap.keys(yield* Ref.get(harness.state.records))), ["s-1"])
    })
  )

  it.scoped("a draining or silent worker's session gets a replacement at once; the silent one is kept until its deadline", () =>
    Effect.gen(function* () {
      const { harness } = yield* daemonReading({ waiting: 2, inFlight: 0 })
      yield* advance(2_500)
      yield* setSession(harness.world, "s-1", "draining")
      yield* setSession(harness.world, "s-2", "silent")
      yield* advance(2_000)
      assert.strictEqual((yield* Ref.get(harness.world.reserves)).length, 4)
      assert.strictEqual((yield* eventsNamed(harness, "draining")).length, 1)
      assert.isFalse((yield* eventsNamed(harness, "closed")).some((event) => event.session_id === "s-2"))
      yield* advance(4_000)
      assert.isTrue((yield* eventsNamed(harness, "closed")).some((event) => event.session_id === "s-2"), "forgotten after its deadline")
      assert.deepStrictEqual(yield* Ref.get(harness.world.ends), [])
    })
  )
})
