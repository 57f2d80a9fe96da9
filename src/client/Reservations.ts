/**
 * The sessions this process holds: each is created through `VastClient.reserve`, kept alive by a ping
 * fiber, and ended exactly once, by `close` or, when the scope closes (normal exit, Ctrl-C, SIGTERM),
 * by the finalizer, which ends every session still open.
 *
 * `/session/create` and `/session/end` calls run in fibers of their own (a `FiberSet`), not in the
 * caller's: a signal that interrupts the caller cannot abandon a create whose session the worker may
 * already hold, nor cut an end short. The stop ends the sessions already open at once, while those calls finish
 * beside it: a session a late create registers is ended as that create returns.
 */
import { Clock, Context, DateTime, Deferred, Duration, Effect, Either, Exit, Fiber, FiberMap, FiberSet, HashMap, Layer, Option, Ref } from "effect"
import { printable } from "../shared/printable.js"
import { ROUTE_ATTEMPTS, retryDelay } from "./backoff.js"
import { monotonicMillis } from "../shared/monotonic.js"
import type { ReserveError, SessionUnknown, WorkerError } from "./errors.js"
import type { ClientEvent } from "./events.js"
import { Reporter } from "./Reporter.js"
import { restartingKeepAlive } from "../shared/restartOnDefect.js"
import { holdUnlessHeld, refuseHeldTwice } from "./heldTwice.js"
import { askedTwiceIfRefused, refused, WORKER_GONE } from "./workerGone.js"
import {
  type Created,
  createMayHaveOpened,
  type CreateOutcome,
  type Endpoint,
  endMayPass,
  type EndOutcome,
  type ReserveProgress,
  type Session,
  VastClient
} from "./VastClient.js"

export interface ReservationPolicy {
  readonly cost: number
  /** Seconds. */
  readonly lifetime: number
  readonly onCloseRoute: string | null
  readonly onClosePayload: unknown
  /** Bound on routing and back-off for one reservation. */
  readonly routeTimeout: Duration.DurationInput
  /** Time between pings; the default is half the lifetime. */
  readonly pingEvery?: Duration.DurationInput
  /**
   * Time between two looks at whether the worker still holds the session (`/session/health`, which extends
   * nothing), when shorter than `pingEvery`: a session the consumer released is seen this soon. Default 5 s.
   */
  readonly watchEvery?: Duration.DurationInput
}

export interface Tally {
  readonly created: number
  readonly ended: number
  /** Closed by the worker (expiry, its consumer's release). */
  readonly closed: number
  /** Gone with its worker: nothing listens at the worker's address any more (scaled down, killed, the machine lost). */
  readonly goneWithWorker: number
  /** Closed, but by the client's own end (its answer lost) or before it: the worker's `410` cannot tell which. */
  readonly closedAfterCut: number
  /** Failed creates and failed ends: a non-zero count makes the exit status non-zero. */
  readonly failures: number
}

interface Held {
  readonly reservation: number
  readonly session: Session
  /** Done once the session is no longer held: ended, closed by the worker, or given up at shutdown. */
  readonly gone: Deferred.Deferred<void>
}

export class Reservations extends Context.Tag("client/Reservations")<
  Reservations,
  {
    /** Route, create and start pinging; a failure is reported and counted before it is returned. */
    readonly open: (endpoint: Endpoint, reservation: number) => Effect.Effect<Session, ReserveError>
    /** Stop pinging and end the session; the outcome is reported (and counted when it failed). */
    readonly close: (sessionId: string) => Effect.Effect<void>
    /** The sessions open now. */
    readonly held: Effect.Effect<ReadonlyArray<Session>>
    /** Wait until `sessionId` is no longer held (at once when it is not). */
    readonly gone: (sessionId: string) => Effect.Effect<void>
    readonly tally: Effect.Effect<Tally>
    /**
     * End every session open (concurrently), and, as they return, the sessions of creates in flight; then wait for the
     * creates and ends in flight, saying first what it waits for. Safe to run more than once; the layer runs it again
     * when its scope closes.
     */
    readonly shutdown: Effect.Effect<void>
  }
>() {
  static readonly layer = (policy: ReservationPolicy): Layer.Layer<Reservations, never, VastClient | Reporter> =>
    Layer.scoped(Reservations, make(policy))
}

const seconds = (duration: Duration.Duration): number => Duration.toMillis(duration) / 1000

const DEFAULT_WATCH_EVERY = Duration.seconds(5)
/** The shortest time between two pings, and between two looks, whatever the lifetime (a lifetime under 2 s cannot be kept). */
export const MIN_CALL_INTERVAL = Duration.seconds(1)

/** A ping this close to its moment is due: timers and the wall clock can disagree by a millisecond or so. */
const PING_TIMER_SLACK_MS = 50
/** Failed `/session/health` looks in a row that are reported (once per run of failures). */
const FAILED_LOOKS_REPORTED = 3

/** `/session/end` calls made at most for one session, when each fails in a way that may pass: as many as for `/route/`. */
export const END_ATTEMPTS = ROUTE_ATTEMPTS
/** No new attempt at an end starts this long after its first (each attempt may take its own 10 s more). */
export const END_RETRY_WITHIN = Duration.seconds(30)
/** The same once the run stops (a signal, or its end): a user waits on it. */
export const END_RETRY_WITHIN_STOPPING = Duration.seconds(10)

/** What to do about a session whose end failed: `session_auth`, which an end needs, is a secret and is never printed. */
export const endByHandHint = (session: Session, at: (epochSeconds: number) => string): string =>
  `session ${printable(session.sessionId)} may hold its worker until it expires (${at(session.expiration)}, ` +
  `${session.lifetime} s after its last ping); to free it sooner, release it on the instance: ` +
  `POST /release {"session_id": "<that id>"} to the worker's control port, or stop the instance`

const isoOf = (epochSeconds: number): string => {
  const at = DateTime.make(epochSeconds * 1000)
  return at._tag === "Some" ? DateTime.formatIso(at.value) : String(epochSeconds)
}

/** An end's outcome; `closed-after-retry`: a `410` to an end asked again after a failed attempt. */
type EndAnswer = EndOutcome | "closed-after-retry"

/** What `reserve` reported, as the client's event for reservation number `reservation`. */
export const progressEvent = (reservation: number, progress: ReserveProgress): ClientEvent => {
  switch (progress._tag) {
    case "Routing":
      return { event: "routing", reservation, request_idx: progress.requestIdx }
    case "Waiting":
      return {
        event: "waiting",
        reservation,
        request_idx: progress.requestIdx,
        attempt: progress.attempt,
        retry_in: seconds(progress.retryIn),
        status: progress.status ?? null
      }
    case "RouteFailed":
      return {
        event: "route_failed",
        reservation,
        request_idx: progress.requestIdx,
        attempt: progress.attempt,
        status: progress.status,
        message: progress.detail,
        retry_in: seconds(progress.retryIn)
      }
    case "Refused":
      return {
        event: "refused",
        reservation,
        url: progress.url,
        request_idx: progress.requestIdx,
        status: progress.status,
        message: progress.detail,
        retry_in: seconds(progress.retryIn)
      }
  }
}

const make = (policy: ReservationPolicy) =>
  Effect.gen(function* () {
    const client = yield* VastClient
    const reporter = yield* Reporter
    // At least a second apart: a lifetime of 0.01 s would otherwise ping (and look) flat out, a line each time.
    const pingEvery = Duration.max(MIN_CALL_INTERVAL, Duration.decode(policy.pingEvery ?? Duration.seconds(policy.lifetime / 2)))
    const watchEvery = Duration.max(MIN_CALL_INTERVAL, Duration.min(pingEvery, Duration.decode(policy.watchEvery ?? DEFAULT_WATCH_EVERY)))
    const pingEveryMs = Duration.toMillis(pingEvery)
    const watchEveryMs = Duration.toMillis(watchEvery)
    // Created first, so that its finalizer (interrupt what is left) runs after ours.
    const calls = yield* FiberSet.make()
    const pingers = yield* FiberMap.make<string>()
    const open = yield* Ref.make(HashMap.empty<string, Held>())
    const tally = yield* Ref.make<Tally>({ created: 0, ended: 0, closed: 0, goneWithWorker: 0, closedAfterCut: 0, failures: 0 })
    const count = (key: keyof Tally) => Ref.update(tally, (current) => ({ ...current, [key]: current[key] + 1 }))
    // Set by the stop: a create that returns after it has its session ended at once, not kept.
    let stopping = false
    /** Creates and ends sent by the run and not yet over: what the stop says it waits for. */
    const inFlight = yield* Ref.make({ creates: 0, ends: 0 })
    const tracked = <A, E>(kind: "creates" | "ends", effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.acquireUseRelease(
        Ref.update(inFlight, (now) => ({ ...now, [kind]: now[kind] + 1 })),
        () => effect,
        () => Ref.update(inFlight, (now) => ({ ...now, [kind]: now[kind] - 1 }))
      )

    /** Run `effect` in a fiber of the set, interruptible there (so its timeouts work), and wait for it. */
    const detached = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.flatMap(FiberSet.run(calls, Effect.interruptible(effect)), Fiber.join)

    const take = (sessionId: string) =>
      Ref.modify(open, (current) => [HashMap.get(current, sessionId), HashMap.remove(current, sessionId)] as const).pipe(
        Effect.tap((taken) => (Option.isSome(taken) ? Deferred.done(taken.value.gone, Exit.void) : Effect.void))
      )

    /**
     * A close the worker reports, most often its consumer's release: the client cannot tell it from the worker's own
     * (an expiry), and says so as the autoscale daemon does.
     */
    const closedByItsWorker = (shownBy: string) => `released by its consumer or closed by its worker (${shownBy})`
    const closedBy = (key: "closed" | "goneWithWorker" | "closedAfterCut") => (held: Held, reason: string) =>
      Effect.zipRight(
        count(key),
        reporter.emit({ event: "closed", reservation: held.reservation, session_id: held.session.sessionId, url: held.session.url, reason })
      )
    const closedByWorker = closedBy("closed")
    // Counted apart: a caller that reads only the summary can tell a worker lost from a session its consumer released.
    const goneWithWorker = closedBy("goneWithWorker")

    /**
     * The worker closed the session on its own (expiry, `/release`), or went with it: reported once, never ended again.
     * In one step: a stop landing between the take and the report would leave the session neither ended nor counted.
     */
    const lostBy = (close: (held: Held, reason: string) => Effect.Effect<void>) => (sessionId: string, reason: string) =>
      Effect.uninterruptible(Effect.flatMap(take(sessionId), (taken) => (Option.isSome(taken) ? close(taken.value, reason) : Effect.void)))
    const lost = lostBy(closedByWorker)
    const lostWithWorker = (sessionId: string) => lostBy(goneWithWorker)(sessionId, WORKER_GONE)

    /**
     * Ping every `pingEvery` and refresh the expiration from `/session/get`; between pings, every `watchEvery`, ask
     * whether the worker still holds the session. Stops when the worker closed it.
     */
    const keepAlive = (held: Held) =>
      Effect.gen(function* () {
        let session = held.session
        // Intervals on the monotonic clock: a wall clock stepped back would hold the pings back by the step.
        let pingAt = (yield* monotonicMillis) + pingEveryMs
        let failedLooks = 0
        while (true) {
          // Wake for the next look, or at the ping's moment if that comes first.
          yield* Effect.sleep(Math.max(0, Math.min(watchEveryMs, pingAt - (yield* monotonicMillis))))
          // A timer can fire a moment before the wall clock shows its time: read as "not yet", the ping would wait a
          // whole interval more, and with the default interval (half the lifetime) the session would expire.
          if ((yield* monotonicMillis) < pingAt - PING_TIMER_SLACK_MS) {
            // One failed look says nothing (the next ping reports what is wrong), but a worker that stops answering is
            // reported once, after a few looks in a row, rather than at a ping that may be minutes away.
            const stillOpen = yield* askedTwiceIfRefused(client.sessionOpen(session))
            if (stillOpen._tag === "Right") {
              failedLooks = 0
              if (!stillOpen.right) return yield* lost(session.sessionId, closedByItsWorker("its /session/health says it is no longer open"))
            } else if (refused(stillOpen.left)) {
              return yield* lostWithWorker(session.sessionId)
            } else if (++failedLooks === FAILED_LOOKS_REPORTED) {
              yield* reporter.emit({
                event: "error",
                operation: "session/health",
                // Not "no answer": a worker that answers 500 did answer.
                message: `${FAILED_LOOKS_REPORTED} looks in a row failed: ${stillOpen.left.message}`,
                reservation: held.reservation,
                session_id: session.sessionId,
                fatal: false
              })
            }
            continue
          }
          pingAt += pingEveryMs
          const pinged = yield* askedTwiceIfRefused(client.ping(session))
          if (pinged._tag === "Left") {
            const error = pinged.left
            if (error._tag === "SessionClosed") return yield* lost(session.sessionId, closedByItsWorker("410 on /ping"))
            if (refused(error)) return yield* lostWithWorker(session.sessionId)
            yield* reporter.emit({
              event: "error",
              operation: "ping",
              message: error.message,
              reservation: held.reservation,
              session_id: session.sessionId,
              fatal: false
            })
            // Tried again at the next look: a whole interval later (half the lifetime by default) is the deadline.
            pingAt = Math.min(pingAt, (yield* monotonicMillis) + watchEveryMs)
            continue
          }
          const now = yield* Clock.currentTimeMillis
          const info = yield* Effect.either(client.getSession(session))
          // Without /session/get, assume the least a ping gives: lifetime from now.
          const expiration = info._tag === "Right" ? info.right.expiration : now / 1000 + session.lifetime
          session = { ...session, expiration }
          const current = session
          yield* Ref.update(open, (all) => {
            const entry = HashMap.get(all, current.sessionId)
            return Option.isSome(entry) ? HashMap.set(all, current.sessionId, { ...entry.value, session: current }) : all
          })
          yield* reporter.emit({
            event: "pinged",
            reservation: held.reservation,
            session_id: session.sessionId,
            url: session.url,
            expiration
          })
        }
      })

    /** Hold the session a create made, unless its id is held already (`heldTwice.ts`): then the create is refused. */
    const register = (reservation: number, created: Created): Effect.Effect<CreateOutcome> =>
      Effect.gen(function* () {
        const { session } = created
        const held: Held = { reservation, session, gone: yield* Deferred.make<void>() }
        const before = yield* holdUnlessHeld(open, held)
        if (Option.isSome(before)) return yield* refuseHeldTwice(client, created, before.value.session.url)
        yield* count("created")
        yield* reporter.emit({
          event: "created",
          reservation,
          session_id: session.sessionId,
          url: session.url,
          expiration: session.expiration,
          request_idx: session.requestIdx
        })
        // A stop already under way took what was open before this session came: it is ended here, by its own create.
        if (stopping) {
          yield* Effect.flatMap(take(session.sessionId), (taken) => (Option.isSome(taken) ? end(taken.value) : Effect.void))
          return created
        }
        yield* FiberMap.run(
          pingers,
          session.sessionId,
          // A keep-alive that dies (a bug) starts again: a session nobody pings would expire while the run holds it.
          restartingKeepAlive(keepAlive(held), watchEvery, (message) =>
            reporter.emit({ event: "error", operation: "keep-alive", message, reservation, session_id: session.sessionId, fatal: false })
          )
        )
        return created
      })

    /**
     * `/session/end`, asked again after a back-off when it fails in a way that may pass (no answer, 408, 429, 5xx: a
     * proxy's blip would otherwise leave the worker held for the whole lifetime), at most `END_ATTEMPTS` times and
     * starting none past `END_RETRY_WITHIN` (shorter once the run stops). A `410` to an end asked again may be an
     * earlier end's doing (its answer lost): `closed-after-cut`.
     */
    const endAsked = (held: Held): Effect.Effect<Either.Either<EndAnswer, SessionUnknown | WorkerError>> =>
      Effect.gen(function* () {
        const { reservation, session } = held
        const first = yield* monotonicMillis
        let outcome: Either.Either<EndAnswer, SessionUnknown | WorkerError> = yield* askedTwiceIfRefused(
          client.endSession(session)
        )
        for (let failures = 1; Either.isLeft(outcome) && endMayPass(outcome.left) && failures < END_ATTEMPTS; failures++) {
          const retryIn = yield* retryDelay(failures - 1)
          const within = Duration.toMillis(stopping ? END_RETRY_WITHIN_STOPPING : END_RETRY_WITHIN)
          if ((yield* monotonicMillis) + Duration.toMillis(retryIn) - first > within) break
          yield* reporter.emit({
            event: "end_retry",
            reservation,
            session_id: session.sessionId,
            url: session.url,
            attempt: failures,
            message: outcome.left.message,
            retry_in: seconds(retryIn)
          })
          yield* Effect.sleep(retryIn)
          outcome = Either.map(yield* askedTwiceIfRefused(client.endSession(session)), (ended) => (ended === "ended" ? ended : "closed-after-retry" as const))
        }
        return outcome
      })

    /** End one held session (already taken out of `open`). */
    const end = (held: Held) =>
      Effect.gen(function* () {
        const { reservation, session } = held
        yield* FiberMap.remove(pingers, session.sessionId)
        yield* reporter.emit({ event: "ending", reservation, session_id: session.sessionId, url: session.url })
        const outcome = yield* endAsked(held)
        if (outcome._tag === "Right") {
          if (outcome.right === "ended") {
            yield* count("ended")
            yield* reporter.emit({ event: "ended", reservation, session_id: session.sessionId, url: session.url })
          } else if (outcome.right === "already-closed") {
            yield* closedByWorker(held, closedByItsWorker("410 on /session/end: already closed"))
          } else if (outcome.right === "closed-after-cut") {
            yield* closedBy("closedAfterCut")(held, "410 on /session/end asked again after its connection was cut: closed, by the first end or before it")
          } else {
            yield* closedBy("closedAfterCut")(held, "410 on /session/end asked again after a failed attempt: closed, by an earlier end or before it")
          }
          return
        }
        if (refused(outcome.left)) return yield* goneWithWorker(held, `${WORKER_GONE} on /session/end`)
        yield* count("failures")
        yield* reporter.emit({
          event: "error",
          operation: "session/end",
          message: `${outcome.left.message}; ${endByHandHint(session, isoOf)}`,
          reservation,
          session_id: session.sessionId,
          fatal: true
        })
      })

    const close = (sessionId: string) =>
      detached(tracked("ends", Effect.flatMap(take(sessionId), (taken) => (Option.isSome(taken) ? end(taken.value) : Effect.void))))

    const openSession = (endpoint: Endpoint, reservation: number) => {
      // Set when the reservation is given up (Ctrl-C) while a create is in flight: its outcome reaches no one else.
      let abandoned = false
      return client
        .reserve({
          endpoint,
          cost: policy.cost,
          lifetime: policy.lifetime,
          onCloseRoute: policy.onCloseRoute,
          onClosePayload: policy.onClosePayload,
          timeout: policy.routeTimeout,
          onProgress: (progress) => reporter.emit(progressEvent(reservation, progress)),
          runCreate: (attempt: Effect.Effect<CreateOutcome>) =>
            detached(tracked("creates",
              Effect.flatMap(attempt, (outcome) =>
                outcome._tag === "Created"
                  ? register(reservation, outcome)
                  : abandoned && createMayHaveOpened(outcome.error)
                    ? Effect.as(reporter.emit({ event: "error", operation: "session/create", message: outcome.error.message, reservation, fatal: false }), outcome)
                    : Effect.succeed(outcome)
              )
            ))
        })
        .pipe(
          Effect.onInterrupt(() => Effect.sync(() => void (abandoned = true))),
          Effect.tapError((error) =>
            Effect.zipRight(
              count("failures"),
              reporter.emit({
                event: "error",
                operation: error._tag === "RouteTimeout" ? "route" : error.operation,
                message: error.message,
                reservation,
                fatal: true
              })
            )
          )
        )
    }

    /** End every session open now, concurrently (in a call of the set: nothing interrupts it). */
    const endAllOpen = detached(
      Effect.gen(function* () {
        const left = yield* Ref.getAndSet(open, HashMap.empty())
        yield* Effect.forEach(HashMap.values(left), (held) => Deferred.done(held.gone, Exit.void), { discard: true })
        if (HashMap.size(left) === 0) return
        yield* reporter.emit({ event: "shutdown", open: HashMap.size(left) })
        yield* Effect.forEach(HashMap.values(left), end, { concurrency: "unbounded", discard: true })
      })
    )

    const shutdown = Effect.gen(function* () {
      stopping = true
      yield* FiberMap.clear(pingers)
      // Said before the wait, so that a user who sees nothing happen does not press Ctrl-C again (and leave sessions open).
      const waiting = yield* Ref.get(inFlight)
      if (waiting.creates > 0 || waiting.ends > 0) yield* reporter.emit({ event: "in_flight", creates: waiting.creates, ends: waiting.ends })
      // The sessions held are ended at once, beside the calls in flight: a create that never answers holds back no end
      // (it ends, as it returns, any session it made: `register`).
      yield* Effect.all([endAllOpen, FiberSet.awaitEmpty(calls)], { concurrency: "unbounded", discard: true })
      // Every session registered since was ended by its create; anything else still open is ended here all the same.
      yield* endAllOpen
    })
    yield* Effect.addFinalizer(() => shutdown)

    return Reservations.of({
      open: openSession,
      close,
      held: Effect.map(Ref.get(open), (all) => Array.from(HashMap.values(all), (held) => held.session)),
      gone: (sessionId) =>
        Effect.flatMap(Ref.get(open), (all) => Option.match(HashMap.get(all, sessionId), { onNone: () => Effect.void, onSome: (held) => Deferred.await(held.gone) })),
      tally: Ref.get(tally),
      shutdown
    })
  })
