/**
 * The reservations the daemon holds: each is routed and created through `VastClient.reserve`, recorded in
 * the `StateStore`, and kept alive by a ping fiber until its worker closes it. The daemon never ends one:
 * its consumer releases it (a `410` on the next ping tells), or its worker goes away. (A create answered with an id
 * held already is refused, and that session ended: `heldTwice.ts`.)
 *
 * - A create runs in a fiber of its own (a `FiberSet`): cancelling a reservation, or stopping the daemon,
 *   cannot lose a session the worker already holds; it is registered and recorded whatever happens.
 * - A session whose worker does not answer pings is kept until its last known deadline has passed, then
 *   forgotten: the worker expires it by then (or is gone). One whose worker's port refuses the connection, twice a
 *   second apart, is forgotten at once: the worker has stopped, and its session with it (`workerGone.ts`).
 * - Stopping gives up the reservations still routing, waits for creates in flight, and stops pinging; the
 *   sessions stay recorded, for the next start to adopt.
 */
import { Cause, Clock, Context, Duration, Effect, Fiber, FiberMap, FiberSet, HashMap, Layer, Option, Ref } from "effect"
import { describeCause } from "../../shared/causeLine.js"
import { monotonicMillis } from "../../shared/monotonic.js"
import { restartingKeepAlive } from "../../shared/restartOnDefect.js"
import { AutoscaleReporter } from "./AutoscaleReporter.js"
import type { HeldView } from "./planner.js"
import { type HeldRecord, StateStore } from "./StateStore.js"
import { type Created, type CreateOutcome, type Endpoint, type Session, VastClient } from "../VastClient.js"
import { holdUnlessHeld, refuseHeldTwice } from "../heldTwice.js"
import { askedTwiceIfRefused, refused, WORKER_GONE } from "../workerGone.js"

/** How soon a failed ping is tried again (at most: never later than the next planned ping). */
const PING_RETRY = Duration.seconds(5)
/** Recorded sessions pinged at once at a restart: a thousand hung workers delay routing by four call time-outs, not 125. */
const ADOPTION_CONCURRENCY = 256
/** How far the worker's clock, which set a recorded deadline, may run ahead of this machine's. */
const DEADLINE_SKEW_SECONDS = 300

export interface HoldingsPolicy {
  readonly cost: number
  /** Seconds. */
  readonly lifetime: number
  readonly pingEvery: Duration.DurationInput
  /** Bound on routing and back-off for one reservation. */
  readonly routeTimeout: Duration.DurationInput
}

export interface HoldingsSnapshot {
  readonly open: ReadonlyArray<HeldView>
  readonly reserving: number
  readonly failureStreak: number
  /** Epoch ms. */
  readonly lastFailureAt: number | null
}

interface Held {
  readonly reservation: number
  readonly session: Session
  /** Epoch ms. */
  readonly createdAt: number
  readonly draining: boolean
  /** The latest ping got no answer. */
  readonly unreachable: boolean
}

export class Holdings extends Context.Tag("autoscale/Holdings")<
  Holdings,
  {
    /** Start `count` reservations on `endpoint`, each in the background. */
    readonly start: (endpoint: Endpoint, count: number) => Effect.Effect<void>
    /** Give up the `count` newest reservations still routing (none that is creating its session). */
    readonly cancel: (count: number) => Effect.Effect<void>
    /** Take over the sessions recorded by an earlier run: those that still answer are held again. */
    readonly adopt: (records: ReadonlyArray<HeldRecord>) => Effect.Effect<void>
    readonly snapshot: Effect.Effect<HoldingsSnapshot>
    /** Stop reserving and pinging; the sessions stay recorded. Safe to run twice. */
    readonly shutdown: Effect.Effect<void>
  }
>() {
  static readonly layer = (policy: HoldingsPolicy): Layer.Layer<Holdings, never, VastClient | StateStore | AutoscaleReporter> =>
    Layer.scoped(Holdings, make(policy))
}

const toRecord = (held: Held): HeldRecord => ({
  session_id: held.session.sessionId,
  reservation: held.reservation,
  url: held.session.url,
  auth_data: held.session.authData,
  lifetime: held.session.lifetime,
  expiration: held.session.expiration,
  request_idx: held.session.requestIdx,
  generation: held.session.generation ?? null,
  created_at: held.createdAt
})

const fromRecord = (record: HeldRecord): Held => ({
  reservation: record.reservation,
  createdAt: record.created_at,
  draining: false,
  unreachable: false,
  session: {
    sessionId: record.session_id,
    url: record.url,
    authData: record.auth_data,
    expiration: record.expiration,
    lifetime: record.lifetime,
    requestIdx: record.request_idx,
    generation: record.generation
  }
})

const make = (policy: HoldingsPolicy) =>
  Effect.gen(function* () {
    const client = yield* VastClient
    const store = yield* StateStore
    const reporter = yield* AutoscaleReporter
    const pingEvery = Duration.decode(policy.pingEvery)
    // Made first, so that their own finalizers (interrupt what is left) run after ours.
    const calls = yield* FiberSet.make()
    const reserving = yield* FiberMap.make<number>()
    const pingers = yield* FiberMap.make<string>()
    const open = yield* Ref.make(HashMap.empty<string, Held>())
    /** Reservations whose create is in flight: not cancellable any more. */
    const creating = yield* Ref.make<ReadonlySet<number>>(new Set())
    const failures = yield* Ref.make<{ readonly streak: number; readonly lastAt: number | null }>({ streak: 0, lastAt: null })
    const nextReservation = yield* Ref.make(1)
    const stopped = yield* Ref.make(false)

    const detached = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.flatMap(FiberSet.run(calls, Effect.interruptible(effect)), Fiber.join)

    /** Sessions whose last save failed: a restart cannot adopt them, and the stop says so. */
    const unrecorded = yield* Ref.make<ReadonlySet<string>>(new Set())
    const saved = (sessionId: string, ok: boolean) =>
      Ref.update(unrecorded, (ids) => {
        if (ids.has(sessionId) !== ok) return ids
        const next = new Set(ids)
        if (ok) next.delete(sessionId)
        else next.add(sessionId)
        return next
      })
    const save = (held: Held) =>
      store.save(toRecord(held)).pipe(
        Effect.tapBoth({ onFailure: () => saved(held.session.sessionId, false), onSuccess: () => saved(held.session.sessionId, true) })
      )

    const record = (held: Held) =>
      save(held).pipe(
        Effect.catchAll((error) =>
          reporter.emit({ event: "error", operation: "record", message: error.message, reservation: held.reservation, session_id: held.session.sessionId })
        )
      )

    /**
     * No longer held, and said closed, in one step: a stop landing between them would leave a session neither held nor
     * reported (review 45 I3). Its record goes after: a stop or a Redis that hangs may keep it, and the next start then
     * finds the session closed and drops it.
     */
    const forget = (held: Held, reason: string) =>
      Effect.zipRight(
        Effect.uninterruptible(
          Effect.gen(function* () {
            yield* Ref.update(open, (all) => HashMap.remove(all, held.session.sessionId))
            yield* saved(held.session.sessionId, true)
            yield* reporter.emit({ event: "closed", reservation: held.reservation, session_id: held.session.sessionId, url: held.session.url, reason })
          })
        ),
        store.remove(held.session.sessionId).pipe(
          Effect.catchAll((error) => reporter.emit({ event: "error", operation: "record", message: error.message, reservation: held.reservation }))
        )
      )

    /** Ping every `pingEvery` until the worker closes the session or stops answering past its deadline. */
    const keepAlive = (sessionId: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        let wait = pingEvery
        while (true) {
          yield* Effect.sleep(wait)
          wait = pingEvery
          const current = HashMap.get(yield* Ref.get(open), sessionId)
          if (Option.isNone(current)) return
          const held = current.value
          const pinged = yield* askedTwiceIfRefused(client.ping(held.session))
          const now = yield* Clock.currentTimeMillis
          if (pinged._tag === "Left") {
            const error = pinged.left
            if (error._tag === "SessionClosed") return yield* forget(held, "released by its consumer or closed by its worker (410 on /ping)")
            // Gone with its worker: forgotten now, so that the planner can reserve another, not at the deadline.
            if (refused(error)) return yield* forget(held, WORKER_GONE)
            if (now / 1000 >= held.session.expiration) return yield* forget(held, `its worker did not answer past the session's deadline (${error.message})`)
            // Said once per streak: the next failures say nothing new.
            if (!held.unreachable) {
              yield* reporter.emit({ event: "error", operation: "ping", message: error.message, reservation: held.reservation, session_id: sessionId })
              yield* Ref.update(open, (all) => (HashMap.has(all, sessionId) ? HashMap.set(all, sessionId, { ...held, unreachable: true }) : all))
            }
            // Tried again sooner: with a ping every half lifetime, the next one would come at the deadline.
            wait = Duration.min(pingEvery, PING_RETRY)
            continue
          }
          const expiration = pinged.right.expiration ?? now / 1000 + held.session.lifetime
          const next: Held = { ...held, session: { ...held.session, expiration }, draining: pinged.right.draining, unreachable: false }
          yield* Ref.update(open, (all) => (HashMap.has(all, sessionId) ? HashMap.set(all, sessionId, next) : all))
          if (next.draining && !held.draining) {
            yield* reporter.emit({ event: "draining", reservation: held.reservation, session_id: sessionId, url: held.session.url })
          }
          yield* reporter.emit({ event: "pinged", reservation: held.reservation, session_id: sessionId, expiration })
          // The new deadline, for a restart to judge the session by; the next ping tries again if Redis is down.
          yield* Effect.ignore(save(next))
        }
      })

    /** Start pinging a session already in `open`. */
    const keepPinging = (held: Held) =>
      Effect.gen(function* () {
        yield* FiberMap.run(
          pingers,
          held.session.sessionId,
          // A keep-alive that dies (a bug) starts again: a session nobody pings would expire while still counted as held.
          restartingKeepAlive(keepAlive(held.session.sessionId), pingEvery, (message) =>
            reporter.emit({ event: "error", operation: "keep-alive", message, reservation: held.reservation, session_id: held.session.sessionId })
          )
        )
      })

    const hold = (held: Held) => Effect.zipRight(Ref.update(open, (all) => HashMap.set(all, held.session.sessionId, held)), keepPinging(held))

    /** Hold and record the session a create made, unless its id is held already (`heldTwice.ts`): then the create is refused. */
    const register = (reservation: number, created: Created): Effect.Effect<CreateOutcome> =>
      Effect.gen(function* () {
        const { session } = created
        const held: Held = { reservation, session, createdAt: yield* Clock.currentTimeMillis, draining: false, unreachable: false }
        const before = yield* holdUnlessHeld(open, held)
        if (Option.isSome(before)) {
          const refusal = yield* refuseHeldTwice(client, created, before.value.session.url)
          // The daemon reports no refusals on the way (the reservation routes again), but this one is the worker's fault.
          yield* reporter.emit({ event: "error", operation: "session/create", message: refusal.error.message, reservation, session_id: session.sessionId })
          return refusal
        }
        yield* keepPinging(held)
        yield* record(held)
        yield* Ref.set(failures, { streak: 0, lastAt: null })
        yield* reporter.emit({
          event: "created",
          reservation,
          session_id: session.sessionId,
          url: session.url,
          generation: session.generation ?? null,
          expiration: session.expiration
        })
        return created
      })

    const reserveOne = (endpoint: Endpoint, reservation: number) =>
      Effect.gen(function* () {
        yield* reporter.emit({ event: "reserving", reservation })
        const reserved = yield* Effect.either(
          client.reserve({
            endpoint,
            cost: policy.cost,
            lifetime: policy.lifetime,
            onCloseRoute: null,
            onClosePayload: null,
            timeout: policy.routeTimeout,
            runCreate: (attempt: Effect.Effect<CreateOutcome>) =>
              Effect.acquireUseRelease(
                Ref.update(creating, (all) => new Set([...all, reservation])),
                () => detached(Effect.flatMap(attempt, (outcome) => (outcome._tag === "Created" ? register(reservation, outcome) : Effect.succeed(outcome)))),
                () => Ref.update(creating, (all) => new Set([...all].filter((n) => n !== reservation)))
              )
          })
        )
        if (reserved._tag === "Right") return
        yield* reserveFailed(reservation, reserved.left.message)
      })

    /** Said, and counted towards the back-off, however the reservation failed. */
    const reserveFailed = (reservation: number, message: string) =>
      Effect.gen(function* () {
        // The back-off's start, on the planner's clock (`monotonicMillis`).
        const now = yield* monotonicMillis
        yield* Ref.update(failures, (current) => ({ streak: current.streak + 1, lastAt: now }))
        yield* reporter.emit({ event: "error", operation: "reserve", message, reservation })
      })

    const start = (endpoint: Endpoint, count: number) =>
      Effect.gen(function* () {
        if (yield* Ref.get(stopped)) return
        for (let i = 0; i < count; i++) {
          const reservation = yield* Ref.getAndUpdate(nextReservation, (n) => n + 1)
          // A reservation that dies (a bug, a client that throws) is a failed reservation, not one that vanishes.
          const reported = reserveOne(endpoint, reservation).pipe(
            Effect.catchAllCause((cause) => (Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : reserveFailed(reservation, describeCause(cause))))
          )
          yield* FiberMap.run(reserving, reservation, reported)
        }
      })

    const cancel = (count: number) =>
      Effect.gen(function* () {
        const busy = yield* Ref.get(creating)
        const candidates = Array.from(reserving, ([reservation]) => reservation)
          .filter((reservation) => !busy.has(reservation))
          .sort((a, b) => b - a)
          .slice(0, count)
        for (const reservation of candidates) {
          yield* FiberMap.remove(reserving, reservation)
          yield* reporter.emit({ event: "cancelled", reservation })
        }
      })

    const adoptOne = (saved: HeldRecord) =>
      Effect.gen(function* () {
        const held = fromRecord(saved)
        const pinged = yield* askedTwiceIfRefused(client.ping(held.session))
        const now = yield* Clock.currentTimeMillis
        const drop = (reason: string) =>
          Effect.zipRight(
            store.remove(saved.session_id).pipe(Effect.catchAll((error) => reporter.emit({ event: "error", operation: "record", message: error.message }))),
            reporter.emit({ event: "forgotten", reservation: saved.reservation, session_id: saved.session_id, reason })
          )
        if (pinged._tag === "Left") {
          if (pinged.left._tag === "SessionClosed") return yield* drop("closed while the daemon was away (410 on /ping)")
          if (refused(pinged.left)) return yield* drop(WORKER_GONE)
          if (now / 1000 >= saved.expiration) return yield* drop(`its worker does not answer and its deadline has passed (${pinged.left.message})`)
          // No ping gives a deadline further than a lifetime from its answer: such a record was not the daemon's, and
          // would keep a silent worker's session held for good.
          if (saved.expiration > now / 1000 + saved.lifetime + DEADLINE_SKEW_SECONDS) {
            return yield* drop(`its worker does not answer and its recorded deadline is further than a lifetime away (${pinged.left.message})`)
          }
          // Not reached today: held until its deadline, like every session whose pings fail.
          yield* hold({ ...held, unreachable: true })
        } else {
          const adopted: Held = {
            ...held,
            session: { ...held.session, expiration: pinged.right.expiration ?? now / 1000 + held.session.lifetime },
            draining: pinged.right.draining
          }
          yield* hold(adopted)
          yield* record(adopted)
        }
        yield* reporter.emit({ event: "adopted", reservation: saved.reservation, session_id: saved.session_id, url: saved.url })
      })

    const adopt = (records: ReadonlyArray<HeldRecord>) =>
      Effect.gen(function* () {
        const highest = records.reduce((max, entry) => Math.max(max, entry.reservation), 0)
        yield* Ref.update(nextReservation, (n) => Math.max(n, highest + 1))
        // Many at once: the daemon routes nothing until adoption is over, and eight at a time made a restart with hung
        // workers wait one call's time-out (10 s) per eight of them. Bounded all the same: `--max` is, and each ping
        // holds a connection (and a file descriptor) until it is answered.
        yield* Effect.forEach(records, adoptOne, { concurrency: ADOPTION_CONCURRENCY, discard: true })
      })

    const snapshot = Effect.gen(function* () {
      const all = yield* Ref.get(open)
      const failure = yield* Ref.get(failures)
      return {
        open: Array.from(HashMap.values(all), (held) => ({
          sessionId: held.session.sessionId,
          createdAt: held.createdAt,
          draining: held.draining,
          unreachable: held.unreachable
        })),
        reserving: yield* FiberMap.size(reserving),
        failureStreak: failure.streak,
        lastFailureAt: failure.lastAt
      } satisfies HoldingsSnapshot
    })

    const shutdown = Effect.gen(function* () {
      if (yield* Ref.getAndSet(stopped, true)) return
      const before = yield* snapshot
      yield* reporter.emit({ event: "stopping", held: before.open.length, reserving: before.reserving })
      yield* FiberMap.clear(reserving)
      // A create in flight finishes: its session is registered and recorded.
      yield* FiberSet.awaitEmpty(calls)
      yield* FiberMap.clear(pingers)
      const held = yield* Ref.get(open)
      const lost = yield* Ref.get(unrecorded)
      const notRecorded = Array.from(HashMap.keys(held)).filter((sessionId) => lost.has(sessionId)).length
      yield* reporter.emit({ event: "stopped", held: HashMap.size(held), unrecorded: notRecorded })
    })
    yield* Effect.addFinalizer(() => shutdown)

    return Holdings.of({ start, cancel, adopt, snapshot, shutdown })
  })
