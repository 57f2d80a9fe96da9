/**
 * The worker's reservation slots: the host of the slot machine (`machines/slot.ts`).
 *
 * Each slot's state is the machine's state value and context, and only the machine decides what an event does:
 * the pool sends an event (with `now` from `Clock`), stores the next state and carries out the intents the
 * transition returned. Besides the slots' states the pool keeps only a history of recent closes (to tell a late
 * `/session/end` 410 from an unknown id's 400); the slot a request names is found by scanning the slots.
 *
 * Every operation is one synchronous step (find the slot, transition, carry out the intents, update the load
 * bookkeeping), so two requests can never interleave inside one: "take a free slot" is atomic without a lock.
 * The step returns an `Either`, which is an Effect: the routes use it directly on the session path (no fiber
 * per request), and everything else composes it like any Effect. What the step has to say is logged through
 * the loggers current when the pool was built (`shared/syncLog.ts`).
 *
 * Bookkeeping that no answer depends on (load metrics, Prometheus, the two log lines) runs just after the step:
 * for the synchronous forms the routes use, in a microtask, i.e. once the answer is written, so a client waits
 * only for the transition; the Effect forms and the expiry timer run it before they return. The work runs in
 * order, so a session's open is always counted before its close. The close history and the callback
 * (journalled before the answer goes out) stay in the step.
 *
 * Expiry: one timer fiber per slot, lazy. It sleeps until the open session's deadline; a create whose
 * deadline is earlier than the one it sleeps for wakes it, a later one does not (a ping only moves the
 * deadline later). When it wakes it sends `session.expire` with `now`, and the machine decides: past the
 * deadline it closes, otherwise it asks to be armed for the current deadline again.
 */
import { Clock, Duration, Effect, Either, Option, Queue } from "effect"
import {
  type AnnounceCloseParams,
  isAuthorised,
  type ReleaseTarget,
  type SlotEvent,
  type SlotSession,
  type SlotStateValue
} from "../../../machines/slot.js"
import { type CloseReason, type KeptPayload, keptCallbackLength, keptCallbackText, LONGEST_CLOSE, NO_PAYLOAD } from "../../protocol/callback.js"
import type { SessionId } from "../../protocol/SessionId.js"
import { AUTH_DATA_MAX_LENGTH } from "../../protocol/authData.js"
import { jsonText } from "../../shared/exactJson.js"
import { canonicalJson, secretDigestHex } from "../../shared/secretEquals.js"
import { sha256Hex } from "../../shared/sha256.js"
import { describeRestart, restartOnDefect } from "../../shared/restartOnDefect.js"
import { makeSyncLog, type SyncLog } from "../../shared/syncLog.js"
import { makeSyncThrottle } from "../../shared/throttledLog.js"
import { Wakeups } from "../../shared/Wakeups.js"
import { LoadMetrics } from "../autoscaler/LoadMetrics.js"
import { CallbackPoster } from "../callbacks/CallbackPoster.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import {
  InvalidField,
  type InvalidSession,
  OutboxFull,
  refusals,
  ReleaseNotOpen,
  SessionAlreadyClosed,
  type SessionAuthInvalid,
  type SessionAuthMismatch,
  SessionNotFound,
  type SlotsExhausted
} from "../errors.js"
import { WorkerMetrics } from "../metrics/WorkerMetrics.js"
import { ExpiryRecheck, expiryLook } from "./expiryLook.js"
import { unsafeNewSessionId } from "./newSessionId.js"
import { initialSlot, makeSlotStepper, type SlotIntent, type SlotState } from "./slotStep.js"
import { echoedId } from "../../protocol/SessionId.js"

/** How long a slot's timer that crashed waits before it starts again: a bug that kills it at once does not spin. */
const TIMER_RESTART_PAUSE = Duration.seconds(1)

/** What `/session/create` asks for. `authData` is the request's `auth_data` as parsed, kept as it came. */
export interface SessionRequest {
  readonly authData: unknown
  readonly cost: number
  readonly requestIdx: number
  readonly lifetimeMs: number
  readonly onCloseRoute: string | null
  /** Without a route it is not kept: `NO_PAYLOAD`. */
  readonly onClosePayload: KeptPayload
}

export interface SessionOpened {
  readonly sessionId: SessionId
  readonly generation: number
  /** Epoch milliseconds. */
  readonly expiresAt: number
}

export interface ClosedSession {
  readonly sessionId: string
  readonly generation: number
  readonly slot: number
  readonly reason: CloseReason
  readonly closedAt: number
}

export interface SlotView {
  readonly slot: number
  readonly state: SlotStateValue
  /** The open session; `authData` is its secret and must not leave the process. */
  readonly session: SlotSession | null
}

/** Whether the pool takes new sessions. */
export type PoolMode = "serving" | "draining" | "recycled" | "errored" | "stopped"

/** Why a pool that is not serving refuses a create. */
const refusalIn: Record<Exclude<PoolMode, "serving">, SlotsExhausted> = {
  draining: refusals.draining,
  recycled: refusals.recycled,
  errored: refusals.errored,
  // Stopped: the end of a stop, whose drain this is (review 54 I4).
  stopped: refusals.draining
}

/** Closed sessions remembered, for `/debug` and so that a late `/session/end` gets 410 rather than 400. */
export const RECENT_CLOSES = 100

interface SlotTimer {
  /** The deadline the slot's timer sleeps until (`Infinity`: it waits to be woken). */
  armedAt: number
  readonly wake: Queue.Queue<void>
}

/** Each create and close, logged at once from the synchronous step (no fiber on the session path). */
const logOpened = (log: SyncLog, slot: number, session: SlotSession) =>
  log.info("session created", {
    session_id: session.id,
    generation: session.generation,
    slot,
    cost: session.cost,
    lifetime: session.lifetimeMs / 1000,
    request_idx: session.requestIdx
  })

const logClosed = (log: SyncLog, { at, limit, reason, session }: AnnounceCloseParams) =>
  log.info("session closed", {
    session_id: session.id,
    generation: session.generation,
    reason,
    ...(limit === null ? {} : { expired_by: limit }),
    held_ms: at - session.createdAt
  })

const refusalOf = (intents: ReadonlyArray<SlotIntent>) => {
  for (const intent of intents) if (intent.type === "refuse") return intent.params.refusal
  return null
}

const closeOf = (intents: ReadonlyArray<SlotIntent>): AnnounceCloseParams | null => {
  for (const intent of intents) if (intent.type === "announceClose") return intent.params
  return null
}

/** The close an event asked for: none when it was refused (a session past its deadline is closed as expired instead). */
const closeDoneBy = (intents: ReadonlyArray<SlotIntent>): AnnounceCloseParams | null => (refusalOf(intents) === null ? closeOf(intents) : null)

const closed = (slot: number, close: AnnounceCloseParams): ClosedSession => ({
  sessionId: close.session.id,
  generation: close.session.generation,
  slot,
  reason: close.reason,
  closedAt: close.at
})

export class SlotPool extends Effect.Service<SlotPool>()("worker/SlotPool", {
  scoped: Effect.gen(function* () {
    const config = yield* WorkerConfig
    const outbox = yield* CallbackPoster
    const metrics = yield* LoadMetrics
    const prometheus = yield* WorkerMetrics
    const clock = yield* Effect.clock
    const recheck = yield* ExpiryRecheck
    const step = makeSlotStepper()
    const capMs = Option.getOrNull(Option.map(config.maxSessionSeconds, (seconds) => seconds * 1000))

    const slots: Array<SlotState> = Array.from({ length: config.maxSessions }, (_, slot) => initialSlot(slot))
    const recentCloses: Array<ClosedSession> = []
    let generation = 0
    let mode: PoolMode = "serving"
    /** A drain (a stop) has begun, whatever the mode: an errored worker stays `errored` through its drain. */
    let stopping = false
    let version = 0
    // Fibers waiting for the next change (long polls, the drain): resumed and forgotten on each change.
    const changes = new Wakeups()
    const timers: ReadonlyArray<SlotTimer> = yield* Effect.forEach(slots, () =>
      Effect.map(Queue.sliding<void>(1), (wake): SlotTimer => ({ armedAt: Number.POSITIVE_INFINITY, wake }))
    )

    const log = yield* makeSyncLog
    // Once, then once a minute with a count: a signed route answer can be replayed thousands of times (probe 51 L5).
    const outboxFullWarning = makeSyncThrottle(clock, log.warning)

    let deferred: Array<() => void> = []
    const flushDeferred = () => {
      const due = deferred
      deferred = []
      for (const work of due) {
        try {
          work()
        } catch (error) {
          // One failing piece of bookkeeping must not cost the others (nor, in a microtask, the process).
          log.warning("session bookkeeping failed", { error: String(error) })
        }
      }
    }
    const defer = (work: () => void) => {
      if (deferred.push(work) === 1) queueMicrotask(flushDeferred)
    }
    /** Run a step and its deferred bookkeeping now (the Effect forms: a caller may read the metrics next). */
    const settled = <A>(step: () => A): A => {
      try {
        return step()
      } finally {
        flushDeferred()
      }
    }

    const sessionAt = (slot: number): SlotSession | null => slots[slot]?.context.session ?? null
    /**
     * The slot holding the open session `sessionId`, or -1. The slots are scanned rather than indexed: there are
     * few (one by default), the create path scans them anyway, and a map emptied at every close allocated a new
     * table each time (~1 µs per session in the running worker, docs/performance.md).
     */
    const slotOf = (sessionId: string): number => {
      for (let slot = 0; slot < slots.length; slot++) if (sessionAt(slot)?.id === sessionId) return slot
      return -1
    }
    const stateAt = (slot: number): SlotStateValue => slots[slot]?.value ?? "retired"
    const wakeTimer = (slot: number, at: number) => {
      const timer = timers[slot]
      if (timer !== undefined && at < timer.armedAt) Queue.unsafeOffer(timer.wake, undefined)
    }

    const noteChange = () => {
      version++
      changes.wakeAll()
    }
    /** Completes once the version differs from `from`: at once if it does already. */
    const awaitChangeFrom = (from: number): Effect.Effect<void> => changes.until(() => version !== from)

    const announceOpen = (slot: number, session: SlotSession) => {
      wakeTimer(slot, session.expiresAt)
      defer(() => {
        metrics.unsafeSessionOpened(session.id, { requestIdx: session.requestIdx, workload: session.cost }, session.createdAt)
        prometheus.sessionOpened()
        logOpened(log, slot, session)
      })
    }

    const announceClose = (slot: number, close: AnnounceCloseParams) => {
      const { at, limit, reason, session } = close
      recentCloses.push(closed(slot, close))
      if (recentCloses.length > RECENT_CLOSES) recentCloses.shift()
      if (session.onCloseRoute !== null) {
        // The body was checked when the session was created; it cannot fail here.
        outbox.unsafeEnqueue({
          sessionId: session.id,
          generation: session.generation,
          route: session.onCloseRoute,
          body: keptCallbackText(session.onClosePayload, { sessionId: session.id, reason, generation: session.generation, expiredBy: limit }),
          reason
        })
      }
      defer(() => {
        metrics.unsafeSessionClosed(session.id, at)
        prometheus.sessionClosed(reason, (at - session.createdAt) / 1000)
        logClosed(log, close)
      })
    }

    /** One event through one slot's machine: store the next state and carry out its intents. */
    const apply = (slot: number, event: SlotEvent): ReadonlyArray<SlotIntent> => {
      const current = slots[slot]
      if (current === undefined) return []
      const [next, intents] = step(current, event)
      slots[slot] = next
      for (const intent of intents) {
        switch (intent.type) {
          case "armExpiry":
            // Nothing to do: the machine asks for this only after the slot timer's own early `session.expire`,
            // and the timer reads the slot's current deadline each time it wakes (a deadline only moves later).
            break
          case "announceOpen":
            announceOpen(slot, intent.params.session)
            break
          case "announceClose":
            announceClose(slot, intent.params)
            break
          case "refuse":
            break
        }
      }
      // A refusal leaves state and context as they were: nothing for long polls to see.
      if (next.value !== current.value || next.context !== current.context) noteChange()
      return intents
    }

    const openCallbackCount = (): number => {
      let count = 0
      for (let slot = 0; slot < slots.length; slot++) if (sessionAt(slot)?.onCloseRoute != null) count++
      return count
    }

    /** The callback text the open sessions have reserved. */
    const openCallbackLength = (): number => {
      let length = 0
      for (let slot = 0; slot < slots.length; slot++) length += sessionAt(slot)?.callbackLength ?? 0
      return length
    }

    /** The slot's timer: sleeps until its session's deadline, then lets the machine decide. */
    const runTimer = (slot: number, timer: SlotTimer) =>
      Effect.gen(function* () {
        for (;;) {
          const session = sessionAt(slot)
          if (session === null) {
            timer.armedAt = Number.POSITIVE_INFINITY
            yield* Queue.take(timer.wake)
            continue
          }
          timer.armedAt = session.expiresAt
          const wait = session.expiresAt - (yield* Clock.currentTimeMillis)
          if (wait > 0) {
            const look = expiryLook(wait, recheck)
            const woken = yield* Queue.take(timer.wake).pipe(Effect.timeoutOption(Duration.millis(look)))
            // Woken (the session changed), or a look before the deadline: the clock is read again.
            if (Option.isSome(woken) || look < wait) continue
          }
          settled(() => apply(slot, { type: "session.expire", now: clock.unsafeCurrentTimeMillis() }))
        }
      })
    // A timer that died (a bug) would leave its slot to a vanished client until a request names the session: started
    // again, as the health loop and the keep-alives are.
    const supervisedTimer = (slot: number, timer: SlotTimer) =>
      restartOnDefect(runTimer(slot, timer), TIMER_RESTART_PAUSE, (cause, restart) =>
        Effect.logError(`slot ${slot}: expiry timer crashed; ${describeRestart(restart)}`, cause)
      )
    yield* Effect.forEach(timers, (timer, slot) => Effect.forkScoped(supervisedTimer(slot, timer)), { discard: true })

    /** Close every open session for `event`; returns what closed. */
    const closeAll = (event: SlotEvent): ReadonlyArray<ClosedSession> => {
      const all: Array<ClosedSession> = []
      for (let slot = 0; slot < slots.length; slot++) {
        const close = closeDoneBy(apply(slot, event))
        if (close !== null) all.push(closed(slot, close))
      }
      return all
    }

    const unsafeShutdown = (): ReadonlyArray<ClosedSession> => {
      mode = "stopped"
      stopping = true
      return settled(() => closeAll({ type: "slot.shutdown", now: clock.unsafeCurrentTimeMillis() }))
    }
    // A safety net: the shutdown sequence closes sessions first; this only catches an early exit.
    yield* Effect.addFinalizer(() => Effect.sync(unsafeShutdown))

    const openSessions = (): ReadonlyArray<SlotSession> => {
      const open: Array<SlotSession> = []
      for (let slot = 0; slot < slots.length; slot++) {
        const session = sessionAt(slot)
        if (session !== null) open.push(session)
      }
      return open
    }

    /** A create refused, for whatever reason the pool has: demand that went unserved here, so rejected load (§4.6). */
    const refuseCreate = <E>(request: SessionRequest, refusal: E): Either.Either<never, E> => {
      metrics.unsafeSessionRejected({ requestIdx: request.requestIdx, workload: request.cost })
      return Either.left(refusal)
    }

    const authDataTooLong = new InvalidField({
      field: "auth_data",
      message: `auth_data: its JSON text is longer than ${AUTH_DATA_MAX_LENGTH} characters (a signed route answer's is a few hundred)`
    })

    /** Take a free slot for a new session. */
    const unsafeCreate = (request: SessionRequest): Either.Either<SessionOpened, SlotsExhausted | OutboxFull | InvalidField> => {
      if (mode !== "serving") return refuseCreate(request, refusalIn[mode])
      // A slot whose session is past its deadline, its timer not yet run (a process paused past it), is not taken
      // here: a create is no event on that session, and the timer frees it a moment later. The 429 path stays a scan
      // (a step here made a full worker's refusals measurably slower, docs/performance.md).
      let slot = -1
      for (let candidate = 0; candidate < slots.length; candidate++) {
        if (stateAt(candidate) === "idle") {
          slot = candidate
          break
        }
      }
      if (slot < 0) return refuseCreate(request, refusals.full)
      // Measured where the digest needs its text anyway: a full worker's 429 pays nothing for it.
      const authText = canonicalJson(request.authData)
      if (authText.length > AUTH_DATA_MAX_LENGTH) return Either.left(authDataTooLong)
      // Only with a route: the payload's text is measured (a megabyte at most), and the hot path has none.
      const onClosePayload = request.onCloseRoute === null ? NO_PAYLOAD : request.onClosePayload
      // As the outbox will count it (`pendingLength`): the body at its longest, and the route. Exactly that longest, so
      // that one callback at the largest the route accepts fits the smallest budget (review 56 L2: 12 characters over it).
      const callbackLength = request.onCloseRoute === null ? 0 : keptCallbackLength(onClosePayload, LONGEST_CLOSE) + request.onCloseRoute.length
      if (request.onCloseRoute !== null) {
        const full = outbox.unsafeFullness(openCallbackCount() + 1, openCallbackLength() + callbackLength)
        if (full !== null) {
          outbox.unsafeRefusedAtCap()
          outboxFullWarning("create refused: the callback outbox is full", { max_pending: config.callbackMaxPending, max_pending_bytes: config.callbackMaxPendingBytes })
          return refuseCreate(request, new OutboxFull({ limit: full }))
        }
      }
      const now = clock.unsafeCurrentTimeMillis()
      let sessionId = unsafeNewSessionId()
      while (slotOf(sessionId) >= 0) sessionId = unsafeNewSessionId()
      const capAt = capMs === null ? null : now + capMs
      const slid = now + request.lifetimeMs
      const capped = capAt !== null && capAt <= slid
      const session: SlotSession = {
        id: sessionId,
        generation: generation + 1,
        authDigest: sha256Hex(authText),
        cost: request.cost,
        requestIdx: request.requestIdx,
        lifetimeMs: request.lifetimeMs,
        createdAt: now,
        expiresAt: capped ? capAt : slid,
        limit: capped ? "cap" : "lifetime",
        capAt,
        pingCount: 0,
        authDataText: jsonText(request.authData) ?? "null",
        onCloseRoute: request.onCloseRoute,
        onClosePayload,
        callbackLength
      }
      // The machine decides (review 54 L4): a slot it will not reserve is full, whatever the host took it for.
      if (refusalOf(apply(slot, { type: "session.reserve", session })) !== null) return refuseCreate(request, refusals.full)
      generation = session.generation
      return Either.right({ sessionId, generation: session.generation, expiresAt: session.expiresAt })
    }

    /** Close a session on the client's word, proven by `session_auth`. */
    const unsafeEnd = (sessionId: string, sessionAuth: unknown): Either.Either<void, SessionNotFound | SessionAuthInvalid | SessionAlreadyClosed> => {
      const slot = slotOf(sessionId)
      if (slot < 0) {
        return Either.left(
          recentCloses.some((close) => close.sessionId === sessionId) ? new SessionAlreadyClosed({ sessionId }) : new SessionNotFound({ sessionId })
        )
      }
      const refusal = refusalOf(apply(slot, { type: "session.end", sessionId, authDigest: secretDigestHex(sessionAuth), now: clock.unsafeCurrentTimeMillis() }))
      if (refusal === null) return Either.void
      if (refusal === "expired") return Either.left(new SessionAlreadyClosed({ sessionId }))
      return Either.left(refusal === "unauthorised" ? refusals.sessionAuthInvalid : new SessionNotFound({ sessionId }))
    }

    /** The open session with this id, proven by `session_auth`; `None` when there is none. */
    const unsafeFind = (sessionId: string, sessionAuth: unknown): Either.Either<Option.Option<SlotSession>, SessionAuthInvalid> => {
      const slot = slotOf(sessionId)
      if (slot < 0) return Either.right(Option.none())
      // A session past its deadline is closed first, as every event after the deadline finds it (the machine decides).
      apply(slot, { type: "session.expire", now: clock.unsafeCurrentTimeMillis() })
      const session = sessionAt(slot)
      if (session === null) return Either.right(Option.none())
      return isAuthorised(session, sessionId, secretDigestHex(sessionAuth)) ? Either.right(Option.some(session)) : Either.left(refusals.sessionAuthInvalid)
    }

    /** A handler request inside a session: slides its expiry to now + lifetime (never past the cap). */
    const unsafePing = (sessionId: string, authData: unknown): Either.Either<SlotSession, InvalidSession | SessionAuthMismatch> => {
      const slot = slotOf(sessionId)
      if (slot < 0) return Either.left(refusals.invalidSession)
      const refusal = refusalOf(apply(slot, { type: "session.ping", sessionId, authDigest: secretDigestHex(authData), now: clock.unsafeCurrentTimeMillis() }))
      const session = sessionAt(slot)
      if (refusal === "unauthorised") return Either.left(refusals.sessionAuthMismatch)
      if (refusal !== null || session === null) return Either.left(refusals.invalidSession)
      return Either.right(session)
    }

    /**
     * Local `/release`. `Any` closes every open session (possibly none); a generation or session id closes that
     * session only, and fails with `ReleaseNotOpen` when it is not open (an old job's late release).
     */
    const unsafeRelease = (target: ReleaseTarget): Either.Either<ReadonlyArray<ClosedSession>, ReleaseNotOpen> => {
      const event: SlotEvent = { type: "session.release", target, now: clock.unsafeCurrentTimeMillis() }
      if (target._tag === "Any") return Either.right(closeAll(event))
      for (let slot = 0; slot < slots.length; slot++) {
        if (sessionAt(slot) === null) continue
        const close = closeDoneBy(apply(slot, event))
        if (close !== null) return Either.right([closed(slot, close)])
      }
      return Either.left(new ReleaseNotOpen({ target: target._tag === "Generation" ? `generation ${target.generation}` : `session ${echoedId(target.sessionId)}` }))
    }

    return {
      /** Each operation as an `Either` (itself an Effect), computed in one synchronous step. */
      unsafeCreate,
      unsafeEnd,
      unsafeFind,
      unsafePing,
      unsafeRelease,
      create: (request: SessionRequest): Effect.Effect<SessionOpened, SlotsExhausted | OutboxFull | InvalidField> =>
        Effect.suspend(() => settled(() => unsafeCreate(request))),
      end: (sessionId: string, sessionAuth: unknown): Effect.Effect<void, SessionNotFound | SessionAuthInvalid | SessionAlreadyClosed> =>
        Effect.suspend(() => settled(() => unsafeEnd(sessionId, sessionAuth))),
      find: (sessionId: string, sessionAuth: unknown): Effect.Effect<Option.Option<SlotSession>, SessionAuthInvalid> =>
        // Settled: finding a session past its deadline closes it, and a caller may read the metrics next.
        Effect.suspend(() => settled(() => unsafeFind(sessionId, sessionAuth))),
      ping: (sessionId: string, authData: unknown): Effect.Effect<SlotSession, InvalidSession | SessionAuthMismatch> =>
        Effect.suspend(() => settled(() => unsafePing(sessionId, authData))),
      release: (target: ReleaseTarget): Effect.Effect<ReadonlyArray<ClosedSession>, ReleaseNotOpen> =>
        Effect.suspend(() => settled(() => unsafeRelease(target))),

      /** Drain: take no new session; open ones stay until they close. */
      retire: Effect.suspend(() => {
        stopping = true
        if (mode === "serving") mode = "draining"
        settled(() => {
          for (let slot = 0; slot < slots.length; slot++) apply(slot, { type: "slot.retire" })
        })
        return metrics.markTakingNoSession
      }),

      /** The consumer declared the instance bad: take no new session, close open ones with `shutdown`. */
      recycle: Effect.suspend(() => {
        mode = "recycled"
        const closed = settled(() => closeAll({ type: "slot.shutdown", now: clock.unsafeCurrentTimeMillis() }))
        // Reported as no capacity, as a drain is (review 54 M1).
        return Effect.as(metrics.markTakingNoSession, closed)
      }),

      /** The consumer is presumed dead (failed health checks): take no new session; open ones stay until they close. */
      errored: Effect.suspend(() => {
        if (mode !== "serving") return Effect.void
        mode = "errored"
        // No slot changes, but `/sessions` does (`draining`): its long polls wake, as for a drain.
        noteChange()
        // Reported as no capacity, as a drain is (review 54 M1).
        return metrics.markTakingNoSession
      }),

      /** Close what is open with `shutdown`; no session is taken again. */
      shutdown: Effect.sync(unsafeShutdown),

      mode: Effect.sync((): PoolMode => mode),
      /** Whether a drain has begun (`retire`): the worker is stopping, whatever its mode. */
      stopping: Effect.sync((): boolean => stopping),
      /** Whether new sessions are taken (synchronous, for the session path). */
      unsafeServing: (): boolean => mode === "serving",
      /** The open sessions, oldest slot first. */
      open: Effect.sync(openSessions),
      /** Completes once no session is open. */
      awaitEmpty: changes.until(() => slots.every((_, slot) => sessionAt(slot) === null)),
      /** A counter that moves on every change to a slot (for long polls). */
      version: Effect.sync(() => version),
      /** Completes once a slot has changed since `version` gave `from` (for long polls). */
      awaitChangeFrom,

      /** Each slot's state and session, for `/debug`, metrics and tests. */
      slots: Effect.sync((): ReadonlyArray<SlotView> => slots.map((snapshot, slot) => ({ slot, state: snapshot.value, session: snapshot.context.session }))),
      /** The most recent closes, oldest first. */
      recentCloses: Effect.sync((): ReadonlyArray<ClosedSession> => recentCloses.slice())
    }
  }),
  dependencies: [CallbackPoster.Default, LoadMetrics.Default, WorkerMetrics.Default]
}) {}
