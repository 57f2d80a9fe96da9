/**
 * In-memory doubles for the autoscale daemon's ports: a Vast whose workers live in a `Ref` (sessions can
 * be released, drained, or their workers stopped, as a test says), a backlog the test sets, and a state
 * store. Everything reads time from Effect's Clock, so TestClock drives it.
 */
import { Clock, Duration, Effect, HashMap, Layer, Option, Redacted, Ref } from "effect"
import { Backlog } from "../../../src/client/autoscale/Backlog.js"
import { RedisFailed } from "../../../src/client/autoscale/redis.js"
import type { BacklogReading } from "../../../src/client/autoscale/scalingRule.js"
import { type HeldRecord, StateStore } from "../../../src/client/autoscale/StateStore.js"
import { RequestFailed, SessionClosed, UnexpectedResponse } from "../../../src/client/errors.js"
import { type CreateOutcome, type Endpoint, type ReserveOptions, type Session, VastClient } from "../../../src/client/VastClient.js"

export const ENDPOINT: Endpoint = { id: 7, name: "queue-endpoint", apiKey: Redacted.make("endpoint-key") }

export type WorkerSession = { readonly state: "open" | "closed" | "draining" | "silent" | "gone" | "hung"; readonly lifetime: number }

export interface VastWorld {
  /** Session id → what its worker does with it. */
  readonly sessions: Ref.Ref<HashMap.HashMap<string, WorkerSession>>
  /** Start times (epoch ms) of every reserve call. */
  readonly reserves: Ref.Ref<ReadonlyArray<number>>
  /** How many reserve calls still fail (the autoscaler is down). */
  readonly failingReserves: Ref.Ref<number>
  /** How many reserve calls still die (a defect: the HTTP client throws). */
  readonly dyingReserves: Ref.Ref<number>
  /** How many ping calls still die (a defect: a bug in the keep-alive's path). */
  readonly dyingPings: Ref.Ref<number>
  /** How many ping calls still find the connection refused (a forwarder's blip), whatever the session's state. */
  readonly refusedPings: Ref.Ref<number>
  /** `/session/end` calls (`<id> on <url>`): the daemon makes one only for a session it refused (its id was held already). */
  readonly ends: Ref.Ref<ReadonlyArray<string>>
  /** Worker n → the session id it answers with instead of `s-<n>` (a worker that repeats ids). */
  readonly answeredIds: Ref.Ref<ReadonlyMap<number, string>>
  /** Statuses the endpoint lookup answers with, in turn, before it finds the endpoint. */
  readonly lookupStatuses: Ref.Ref<ReadonlyArray<number>>
  /** Time from a reserve call to its session. */
  readonly routeDelay: Ref.Ref<Duration.Duration>
  /** Time from the worker making a session to its create's answer reaching the daemon (a create in flight). */
  readonly createAnswerDelay: Ref.Ref<Duration.Duration>
  readonly nextId: Ref.Ref<number>
}

export const makeWorld = Effect.gen(function* () {
  const world: VastWorld = {
    sessions: yield* Ref.make(HashMap.empty<string, WorkerSession>()),
    reserves: yield* Ref.make<ReadonlyArray<number>>([]),
    failingReserves: yield* Ref.make(0),
    dyingReserves: yield* Ref.make(0),
    dyingPings: yield* Ref.make(0),
    refusedPings: yield* Ref.make(0),
    ends: yield* Ref.make<ReadonlyArray<string>>([]),
    answeredIds: yield* Ref.make<ReadonlyMap<number, string>>(new Map()),
    lookupStatuses: yield* Ref.make<ReadonlyArray<number>>([]),
    routeDelay: yield* Ref.make(Duration.millis(500)),
    createAnswerDelay: yield* Ref.make(Duration.zero),
    nextId: yield* Ref.make(1)
  }
  return world
})

/**
 * Set what a session's worker does: `closed` (released: 410), `draining`, `silent` (no answer), `gone` (its port refuses),
 * `hung` (takes the connection and never answers: the call times out after `HUNG_CALL_MS`).
 */
export const setSession = (world: VastWorld, sessionId: string, state: WorkerSession["state"]) =>
  Ref.update(world.sessions, (all) =>
    Option.match(HashMap.get(all, sessionId), {
      onNone: () => all,
      onSome: (session) => HashMap.set(all, sessionId, { ...session, state })
    })
  )

export const openSessions = (world: VastWorld) =>
  Effect.map(Ref.get(world.sessions), (all) => Array.from(HashMap.entries(all)).filter(([, session]) => session.state !== "closed").map(([id]) => id))

/** How long a call to a hung worker waits before it fails: the client's time-out for one call. */
export const HUNG_CALL_MS = 10_000

export const fakeVast = (world: VastWorld): Layer.Layer<VastClient> =>
  Layer.succeed(
    VastClient,
    VastClient.of({
      findEndpoint: () =>
        Effect.flatMap(
          Ref.modify(world.lookupStatuses, ([status, ...rest]) => [status, rest] as const),
          (status) =>
            status === undefined
              ? Effect.succeed(ENDPOINT)
              : Effect.fail(new UnexpectedResponse({ operation: "endpoint lookup", url: "https://console.test/api/v0/endptjobs/", status, detail: `status ${status}` }))
        ),
      endpointSettings: () => Effect.die("not used"),
      probeWorker: () => Effect.die("not used"),
      route: () => Effect.die("not used"),
      getSession: () => Effect.die("not used"),
      sessionOpen: () => Effect.die("not used"),
      reserve: (options: ReserveOptions) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          yield* Ref.update(world.reserves, (all) => [...all, now])
          yield* Effect.sleep(yield* Ref.get(world.routeDelay))
          const failing = yield* Ref.getAndUpdate(world.failingReserves, (n) => Math.max(0, n - 1))
          if (failing > 0) return yield* new RequestFailed({ operation: "route", url: "https://run.test/route/", detail: "connect ECONNREFUSED" })
          const dying = yield* Ref.getAndUpdate(world.dyingReserves, (n) => Math.max(0, n - 1))
          if (dying > 0) return yield* Effect.die(new TypeError('Protocol "ftp:" not supported. Expected "http:"\n    at a stack line'))
          // Each refused create (a repeated id) is routed again, to the next worker.
          for (;;) {
            const n = yield* Ref.getAndUpdate(world.nextId, (id) => id + 1)
            const session: Session = {
              sessionId: (yield* Ref.get(world.answeredIds)).get(n) ?? `s-${n}`,
              url: `https://10.0.0.${n}:4000`,
              authData: { url: `https://10.0.0.${n}:4000`, signature: "c2ln", reqnum: n, request_idx: n, endpoint: ENDPOINT.name, cost: options.cost },
              expiration: (yield* Clock.currentTimeMillis) / 1000 + options.lifetime,
              lifetime: options.lifetime,
              requestIdx: n,
              generation: 1
            }
            const create = Effect.gen(function* () {
              yield* Ref.update(world.sessions, (all) => HashMap.set(all, session.sessionId, { state: "open", lifetime: options.lifetime }))
              yield* Effect.sleep(yield* Ref.get(world.createAnswerDelay))
              return { _tag: "Created", session, status: 201 } satisfies CreateOutcome
            })
            const outcome = yield* (options.runCreate ?? ((attempt: Effect.Effect<CreateOutcome>) => attempt))(create)
            if (outcome._tag === "Created") return session
          }
        }),
      ping: (session) =>
        Effect.gen(function* () {
          const dying = yield* Ref.getAndUpdate(world.dyingPings, (n) => Math.max(0, n - 1))
          if (dying > 0) return yield* Effect.die(new TypeError("Cannot read properties of undefined (reading 'expiration')"))
          const blip = yield* Ref.getAndUpdate(world.refusedPings, (n) => Math.max(0, n - 1))
          const found = HashMap.get(yield* Ref.get(world.sessions), session.sessionId)
          if (blip > 0 || (Option.isSome(found) && found.value.state === "gone")) {
            return yield* new RequestFailed({ operation: "ping", url: `${session.url}/ping`, detail: "connect ECONNREFUSED", refused: true })
          }
          if (Option.isNone(found) || found.value.state === "closed") return yield* new SessionClosed({ sessionId: session.sessionId })
          if (found.value.state === "silent") {
            return yield* new RequestFailed({ operation: "ping", url: `${session.url}/ping`, detail: "connect ECONNREFUSED" })
          }
          if (found.value.state === "hung") {
            yield* Effect.sleep(HUNG_CALL_MS)
            return yield* new RequestFailed({ operation: "ping", url: `${session.url}/ping`, detail: "no answer within 10 s" })
          }
          return { expiration: (yield* Clock.currentTimeMillis) / 1000 + found.value.lifetime, draining: found.value.state === "draining" }
        }),
      endSession: (session) => Effect.as(Ref.update(world.ends, (all) => [...all, `${session.sessionId} on ${session.url}`]), "ended" as const)
    })
  )

/** A backlog the test sets; `null` makes reading fail (Redis down). */
export const fakeBacklog = (reading: Ref.Ref<BacklogReading | null>): Layer.Layer<Backlog> =>
  Layer.succeed(
    Backlog,
    Backlog.of({
      source: "fake queue",
      read: Effect.flatMap(Ref.get(reading), (current) =>
        current === null ? Effect.fail(new RedisFailed({ command: "XINFO", detail: "connect ECONNREFUSED" })) : Effect.succeed(current)
      )
    })
  )

export interface MemoryState {
  readonly records: Ref.Ref<HashMap.HashMap<string, HeldRecord>>
  readonly keep: Ref.Ref<{ readonly ids: ReadonlyArray<string>; readonly until: number }>
  readonly owner: Ref.Ref<{ readonly token: string; readonly until: number } | null>
  /** Set: publishing the keep set fails as with Redis down. */
  readonly publishDown: Ref.Ref<boolean>
}

export const makeMemoryState = Effect.gen(function* () {
  const state: MemoryState = {
    records: yield* Ref.make(HashMap.empty<string, HeldRecord>()),
    keep: yield* Ref.make<{ readonly ids: ReadonlyArray<string>; readonly until: number }>({ ids: [], until: 0 }),
    owner: yield* Ref.make<{ readonly token: string; readonly until: number } | null>(null),
    publishDown: yield* Ref.make(false)
  }
  return state
})

/** The keep set as a consumer would read it now (empty once the lease lapsed). */
export const keptNow = (state: MemoryState) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const keep = yield* Ref.get(state.keep)
    return now < keep.until ? keep.ids : []
  })

export const memoryStore = (state: MemoryState): Layer.Layer<StateStore> =>
  Layer.succeed(
    StateStore,
    StateStore.of({
      load: Effect.map(Ref.get(state.records), (all) => ({ records: Array.from(HashMap.values(all)), unreadable: [] })),
      save: (record) => Ref.update(state.records, (all) => HashMap.set(all, record.session_id, record)),
      remove: (sessionId) => Ref.update(state.records, (all) => HashMap.remove(all, sessionId)),
      publishKeep: (ids, ttlMs) =>
        Effect.flatMap(Ref.get(state.publishDown), (down) =>
          down
            ? Effect.fail(new RedisFailed({ command: "SET", detail: "connect ECONNREFUSED" }))
            : Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.set(state.keep, { ids, until: now + ttlMs }))
        ),
      claimOwner: (token, ttlMs) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const current = yield* Ref.get(state.owner)
          if (current !== null && current.token !== token && current.until > now) return false
          yield* Ref.set(state.owner, { token, until: now + ttlMs })
          return true
        }),
      releaseOwner: (token) => Ref.update(state.owner, (current) => (current !== null && current.token === token ? null : current))
    })
  )
