/**
 * The worker's reservation slots: the host of the slot machine (`machines/slot.ts`).
 *
 * Each slot's state is the machine's snapshot, and only the machine decides what an event does: the pool
 * sends an event (with `now` from `Clock`), stores the next snapshot and carries out the intents the
 * transition returned. The pool keeps just an id → slot index (to find the slot a request names) and a
 * history of recent closes (to tell a late `/session/end` 410 from an unknown id's 400).
 *
 * Every operation is one synchronous step (find the slot, transition, record the intents), so two
 * requests can never interleave inside one: "take a free slot" is atomic without a lock. Logs and load
 * bookkeeping run right after the step.
 *
 * Expiry: one timer fiber per slot, lazy. It sleeps until the open session's deadline; a create whose
 * deadline is earlier than the one it sleeps for wakes it, a later one does not (a ping only moves the
 * deadline later). When it wakes it sends `session.expire` with `now`, and the machine decides: past the
 * deadline it closes, otherwise it asks to be armed for the current deadline again.
 */
import { Clock, Duration, Effect, Option, Queue } from "effect"
import {
  type AnnounceCloseParams,
  isAuthorised,
  type ReleaseTarget,
  type SlotEvent,
  type SlotSession,
  type SlotStateValue
} from "../../../machines/slot.js"
import { callbackText, type CloseReason } from "../../protocol/callback.js"
import type { SessionId } from "../../protocol/SessionId.js"
import { secretDigestHex } from "../../shared/secretEquals.js"
import { LoadMetrics } from "../autoscaler/LoadMetrics.js"
import { CallbackPoster } from "../callbacks/CallbackPoster.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { WorkerMetrics } from "../metrics/WorkerMetrics.js"
import {
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
import { unsafeNewSessionId } from "./newSessionId.js"
import { initialSlot, makeSlotStepper, type SlotIntent, type SlotSnapshot } from "./slotStep.js"

/** What `/session/create` asks for. `authData` is the request's `auth_data` as parsed, kept as it came. */
export interface SessionRequest {
  readonly authData: unknown
  readonly cost: number
  readonly requestIdx: number
  readonly lifetimeMs: number
  readonly onCloseRoute: string | null
  readonly onClosePayload: unknown
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
export type PoolMode = "serving" | "draining" | "recycled" | "stopped"

/** Closed sessions remembered, for `/debug` and so that a late `/session/end` gets 410 rather than 400. */
export const RECENT_CLOSES = 100

interface SlotTimer {
  /** The deadline the slot's timer sleeps until (`Infinity`: it waits to be woken). */
  armedAt: number
  readonly wake: Queue.Queue<void>
}

const refusalOf = (intents: ReadonlyArray<SlotIntent>) => {
  for (const intent of intents) if (intent.type === "refuse") return intent.params.refusal
  return null
}

const closesOf = (intents: ReadonlyArray<SlotIntent>): ReadonlyArray<AnnounceCloseParams> => {
  const closes: Array<AnnounceCloseParams> = []
  for (const intent of intents) if (intent.type === "announceClose") closes.push(intent.params)
  return closes
}

export class SlotPool extends Effect.Service<SlotPool>()("worker/SlotPool", {
  scoped: Effect.gen(function* () {
    const config = yield* WorkerConfig
    const outbox = yield* CallbackPoster
    const metrics = yield* LoadMetrics
    const prometheus = yield* WorkerMetrics
    const clock = yield* Effect.clock
    const step = makeSlotStepper()
    const capMs = Option.map(config.maxSessionSeconds, (seconds) => seconds * 1000)

    const slots: Array<SlotSnapshot> = Array.from({ length: config.maxSessions }, (_, slot) => initialSlot(slot))
    const index = new Map<string, number>()
    const recentCloses: Array<ClosedSession> = []
    let generation = 0
    let mode: PoolMode = "serving"
    let version = 0
    // Fibers waiting for the next change (long polls, the drain): resumed and forgotten on each change.
    const waiters = new Set<() => void>()
    const timers: ReadonlyArray<SlotTimer> = yield* Effect.forEach(slots, () =>
      Effect.map(Queue.sliding<void>(1), (wake): SlotTimer => ({ armedAt: Number.POSITIVE_INFINITY, wake }))
    )

    const sessionAt = (slot: number): SlotSession | null => slots[slot]?.context.session ?? null
    const stateAt = (slot: number): SlotStateValue => slots[slot]?.value ?? "retired"

    const noteChange = () => {
      version++
      if (waiters.size === 0) return
      const woken = [...waiters]
      waiters.clear()
      for (const wake of woken) wake()
    }
    const awaitChange = Effect.async<void>((resume) => {
      const wake = () => resume(Effect.void)
      waiters.add(wake)
      return Effect.sync(() => void waiters.delete(wake))
    })

    const announceClose = (slot: number, close: AnnounceCloseParams): Effect.Effect<void> => {
      const { at, limit, reason, session } = close
      index.delete(session.id)
      prometheus.sessionClosed(reason, (at - session.createdAt) / 1000)
      recentCloses.push({ sessionId: session.id, generation: session.generation, slot, reason, closedAt: at })
      if (recentCloses.length > RECENT_CLOSES) recentCloses.shift()
      if (session.onCloseRoute !== null) {
        // The body was checked when the session was created; it cannot fail here.
        outbox.unsafeEnqueue({
          sessionId: session.id,
          generation: session.generation,
          route: session.onCloseRoute,
          body: callbackText(session.onClosePayload, { sessionId: session.id, reason, generation: session.generation, expiredBy: limit }),
          reason
        })
      }
      return Effect.zipRight(
        metrics.sessionClosed(session.id, at),
        Effect.logInfo("session closed", {
          session_id: session.id,
          generation: session.generation,
          reason,
          ...(limit === null ? {} : { expired_by: limit }),
          held_ms: at - session.createdAt
        })
      )
    }

    /**
     * One event through one slot's machine: store the next snapshot and carry out the synchronous part of
     * its intents. Returns the intents and the effects (logs, load bookkeeping) to run after the step.
     */
    const apply = (slot: number, event: SlotEvent): { readonly intents: ReadonlyArray<SlotIntent>; readonly after: Effect.Effect<void> } => {
      const current = slots[slot]
      if (current === undefined) return { intents: [], after: Effect.void }
      const [next, intents] = step(current, event)
      if (next.status === "error") throw next.error
      slots[slot] = next
      let after: Effect.Effect<void> = Effect.void
      for (const intent of intents) {
        switch (intent.type) {
          case "armExpiry":
            // Nothing to do: the machine asks for this only after the timer's own early `session.expire`, and
            // the timer reads the slot's current deadline every time it wakes (a deadline only moves later).
            break
          case "announceOpen": {
            const { session } = intent.params
            index.set(session.id, slot)
            prometheus.sessionOpened()
            const timer = timers[slot]
            if (timer !== undefined && session.expiresAt < timer.armedAt) Queue.unsafeOffer(timer.wake, undefined)
            after = Effect.zipRight(
              after,
              Effect.zipRight(
                metrics.sessionOpened(session.id, { requestIdx: session.requestIdx, workload: session.cost }, session.createdAt),
                Effect.logInfo("session created", {
                  session_id: session.id,
                  generation: session.generation,
                  slot,
                  cost: session.cost,
                  lifetime: session.lifetimeMs / 1000,
                  request_idx: session.requestIdx
                })
              )
            )
            break
          }
          case "announceClose":
            after = Effect.zipRight(after, announceClose(slot, intent.params))
            break
          case "refuse":
            break
        }
      }
      // A refusal leaves state and context as they were: nothing for long polls to see.
      if (next.value !== current.value || next.context !== current.context) noteChange()
      return { intents, after }
    }

    const openCallbackCount = (): number => {
      let count = 0
      for (let slot = 0; slot < slots.length; slot++) if (sessionAt(slot)?.onCloseRoute != null) count++
      return count
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
            const woken = yield* Queue.take(timer.wake).pipe(Effect.timeoutOption(Duration.millis(wait)))
            if (Option.isSome(woken)) continue
          }
          const { after } = apply(slot, { type: "session.expire", now: clock.unsafeCurrentTimeMillis() })
          yield* after
        }
      }).pipe(Effect.catchAllCause((cause) => Effect.logError(`slot ${slot}: expiry timer stopped`, cause)))
    yield* Effect.forEach(timers, (timer, slot) => Effect.forkScoped(runTimer(slot, timer)), { discard: true })

    /** Close every open session for `event`; returns what closed. */
    const closeAll = (event: SlotEvent): { readonly closed: ReadonlyArray<ClosedSession>; readonly after: Effect.Effect<void> } => {
      const closed: Array<ClosedSession> = []
      let after: Effect.Effect<void> = Effect.void
      for (let slot = 0; slot < slots.length; slot++) {
        const outcome = apply(slot, event)
        for (const close of closesOf(outcome.intents)) {
          closed.push({ sessionId: close.session.id, generation: close.session.generation, slot, reason: close.reason, closedAt: close.at })
        }
        after = Effect.zipRight(after, outcome.after)
      }
      return { closed, after }
    }

    const shutdownAll = Effect.suspend(() => {
      mode = "stopped"
      const { after, closed } = closeAll({ type: "slot.shutdown", now: clock.unsafeCurrentTimeMillis() })
      return Effect.as(after, closed)
    })
    // A safety net: the shutdown sequence closes sessions first; this only catches an early exit.
    yield* Effect.addFinalizer(() => shutdownAll)

    const openSessions = (): ReadonlyArray<SlotSession> => {
      const open: Array<SlotSession> = []
      for (let slot = 0; slot < slots.length; slot++) {
        const session = sessionAt(slot)
        if (session !== null) open.push(session)
      }
      return open
    }

    return {
      /** Take a free slot for a new session. */
      create: (request: SessionRequest): Effect.Effect<SessionOpened, SlotsExhausted | OutboxFull> =>
        Effect.suspend((): Effect.Effect<SessionOpened, SlotsExhausted | OutboxFull> => {
          if (mode !== "serving") return Effect.fail(mode === "draining" ? refusals.draining : refusals.recycled)
          let slot = -1
          for (let candidate = 0; candidate < slots.length; candidate++) {
            if (stateAt(candidate) === "idle") {
              slot = candidate
              break
            }
          }
          if (slot < 0) {
            return Effect.zipRight(
              metrics.sessionRejected({ requestIdx: request.requestIdx, workload: request.cost }),
              Effect.fail(refusals.full)
            )
          }
          if (request.onCloseRoute !== null && !outbox.unsafeAdmits(openCallbackCount() + 1)) {
            outbox.unsafeRefusedAtCap()
            return Effect.zipRight(
              Effect.logWarning("create refused: the callback outbox is full", { max_pending: config.callbackMaxPending }),
              Effect.fail(new OutboxFull({ limit: config.callbackMaxPending }))
            )
          }
          const now = clock.unsafeCurrentTimeMillis()
          let sessionId = unsafeNewSessionId()
          while (index.has(sessionId)) sessionId = unsafeNewSessionId()
          generation++
          const capAt = Option.match(capMs, { onNone: () => null, onSome: (cap) => now + cap })
          const slid = now + request.lifetimeMs
          const capped = capAt !== null && capAt <= slid
          const session: SlotSession = {
            id: sessionId,
            generation,
            authDigest: secretDigestHex(request.authData),
            cost: request.cost,
            requestIdx: request.requestIdx,
            lifetimeMs: request.lifetimeMs,
            createdAt: now,
            expiresAt: capped ? capAt : slid,
            limit: capped ? "cap" : "lifetime",
            capAt,
            pingCount: 0,
            authData: request.authData,
            onCloseRoute: request.onCloseRoute,
            onClosePayload: request.onCloseRoute === null ? null : request.onClosePayload
          }
          const { after } = apply(slot, { type: "session.reserve", session })
          return Effect.as(after, { sessionId, generation: session.generation, expiresAt: session.expiresAt })
        }),

      /** Close a session on the client's word, proven by `session_auth`. */
      end: (sessionId: string, sessionAuth: unknown): Effect.Effect<void, SessionNotFound | SessionAuthInvalid | SessionAlreadyClosed> =>
        Effect.suspend((): Effect.Effect<void, SessionNotFound | SessionAuthInvalid | SessionAlreadyClosed> => {
          const slot = index.get(sessionId)
          if (slot === undefined) {
            return Effect.fail(
              recentCloses.some((closed) => closed.sessionId === sessionId)
                ? new SessionAlreadyClosed({ sessionId })
                : new SessionNotFound({ sessionId })
            )
          }
          const event: SlotEvent = { type: "session.end", sessionId, authDigest: secretDigestHex(sessionAuth), now: clock.unsafeCurrentTimeMillis() }
          const { after, intents } = apply(slot, event)
          switch (refusalOf(intents)) {
            case null:
              return after
            case "unauthorised":
              return Effect.fail(refusals.sessionAuthInvalid)
            default:
              return Effect.fail(new SessionNotFound({ sessionId }))
          }
        }),

      /** The open session with this id, proven by `session_auth`; `None` when there is none. */
      find: (sessionId: string, sessionAuth: unknown): Effect.Effect<Option.Option<SlotSession>, SessionAuthInvalid> =>
        Effect.suspend(() => {
          const slot = index.get(sessionId)
          const session = slot === undefined ? null : sessionAt(slot)
          if (session === null) return Effect.succeedNone
          return isAuthorised(session, sessionId, secretDigestHex(sessionAuth))
            ? Effect.succeedSome(session)
            : Effect.fail(refusals.sessionAuthInvalid)
        }),

      /** A handler request inside a session: slides its expiry to now + lifetime (never past the cap). */
      ping: (sessionId: string, authData: unknown): Effect.Effect<SlotSession, InvalidSession | SessionAuthMismatch> =>
        Effect.suspend((): Effect.Effect<SlotSession, InvalidSession | SessionAuthMismatch> => {
          const slot = index.get(sessionId)
          if (slot === undefined) return Effect.fail(refusals.invalidSession)
          const event: SlotEvent = { type: "session.ping", sessionId, authDigest: secretDigestHex(authData), now: clock.unsafeCurrentTimeMillis() }
          const { after, intents } = apply(slot, event)
          const refusal = refusalOf(intents)
          const session = sessionAt(slot)
          if (refusal === "unauthorised") return Effect.fail(refusals.sessionAuthMismatch)
          if (refusal !== null || session === null) return Effect.fail(refusals.invalidSession)
          return Effect.as(after, session)
        }),

      /**
       * Local `/release`. `Any` closes every open session (possibly none); a generation or session id closes
       * that session only, and fails with `ReleaseNotOpen` when it is not open (an old job's late release).
       */
      release: (target: ReleaseTarget): Effect.Effect<ReadonlyArray<ClosedSession>, ReleaseNotOpen> =>
        Effect.suspend((): Effect.Effect<ReadonlyArray<ClosedSession>, ReleaseNotOpen> => {
          const event: SlotEvent = { type: "session.release", target, now: clock.unsafeCurrentTimeMillis() }
          if (target._tag === "Any") {
            const { after, closed } = closeAll(event)
            return Effect.as(after, closed)
          }
          for (let slot = 0; slot < slots.length; slot++) {
            const session = sessionAt(slot)
            if (session === null) continue
            const { after, intents } = apply(slot, event)
            const [close] = closesOf(intents)
            if (close !== undefined) {
              return Effect.as(after, [{ sessionId: close.session.id, generation: close.session.generation, slot, reason: close.reason, closedAt: close.at }])
            }
          }
          return Effect.fail(
            new ReleaseNotOpen({ target: target._tag === "Generation" ? `generation ${target.generation}` : `session ${target.sessionId}` })
          )
        }),

      /** Drain: take no new session; open ones stay until they close. */
      retire: Effect.suspend(() => {
        if (mode === "serving") mode = "draining"
        let after: Effect.Effect<void> = Effect.void
        for (let slot = 0; slot < slots.length; slot++) after = Effect.zipRight(after, apply(slot, { type: "slot.retire" }).after)
        return Effect.zipRight(after, metrics.touch)
      }),

      /** The consumer declared the instance bad: take no new session, close open ones with `shutdown`. */
      recycle: Effect.suspend(() => {
        mode = "recycled"
        const { after, closed } = closeAll({ type: "slot.shutdown", now: clock.unsafeCurrentTimeMillis() })
        return Effect.as(after, closed)
      }),

      /** Close what is open with `shutdown`; no session is taken again. */
      shutdown: shutdownAll,

      mode: Effect.sync((): PoolMode => mode),
      /** The open sessions, oldest slot first. */
      open: Effect.sync(openSessions),
      /** Completes once no session is open. */
      awaitEmpty: Effect.suspend(function loop(): Effect.Effect<void> {
        return openSessions().length === 0 ? Effect.void : Effect.flatMap(awaitChange, loop)
      }),
      /** A counter that moves on every change to a slot (for long polls). */
      version: Effect.sync(() => version),
      /** Completes at the next change to any slot. */
      awaitChange,

      /** Each slot's state and session, for `/debug`, metrics and tests. */
      slots: Effect.sync((): ReadonlyArray<SlotView> => slots.map((snapshot, slot) => ({ slot, state: snapshot.value, session: snapshot.context.session }))),
      /** The most recent closes, oldest first. */
      recentCloses: Effect.sync((): ReadonlyArray<ClosedSession> => recentCloses.slice())
    }
  }),
  dependencies: [CallbackPoster.Default, LoadMetrics.Default, WorkerMetrics.Default]
}) {}
