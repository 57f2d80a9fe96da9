/**
 * The worker's reservation slots. Each slot is an actor of the pure machine in `machines/slot.ts`; this
 * service is its host: it sends events (with `now` from `Clock`) and carries out the intents the machine
 * records — expiry timers in a `FiberMap`, close announcements to the callback outbox.
 *
 * All slots share one lock. A critical section is a few microseconds of pure work, and one lock makes
 * "find a free slot and take it" atomic, so concurrent creates can never share a slot.
 */
import { Clock, Duration, Effect, FiberMap, FiberSet, Option } from "effect"
import { createActor } from "xstate"
import {
  type AnnounceCloseParams,
  type CloseReason,
  type EndReason,
  type SlotEvent,
  type SlotSession,
  type SlotStateValue,
  slotMachine
} from "../../../machines/slot.js"
import { LoadMetrics } from "../autoscaler/LoadMetrics.js"
import { CallbackPoster } from "../callbacks/CallbackPoster.js"
import { callbackBody } from "../../protocol/callback.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import {
  InvalidSession,
  SessionAlreadyClosed,
  SessionAuthInvalid,
  SessionAuthMismatch,
  SessionNotFound,
  SlotsExhausted
} from "../http/errors.js"
import { matchesSecret, secretDigest } from "../../shared/secretEquals.js"
import { newSessionId } from "./newSessionId.js"

/** What `/session/create` asks for. */
export interface SessionRequest {
  readonly authData: Readonly<Record<string, unknown>>
  readonly cost: number
  readonly requestIdx: number
  readonly lifetimeMs: number
  readonly onCloseRoute: string | null
  readonly onClosePayload: unknown
}

export interface SessionCreated {
  readonly sessionId: string
  /** Epoch milliseconds. */
  readonly expiresAt: number
}

export interface ClosedSession {
  readonly sessionId: string
  readonly slot: number
  readonly reason: CloseReason
  readonly closedAt: number
}

export interface SlotView {
  readonly slot: number
  readonly state: SlotStateValue
  /** The open session; `authData` is the session's secret and must not leave the process. */
  readonly session: SlotSession | null
}

/** Closed sessions remembered, for `/debug` and so that a late `/session/end` gets 410 rather than 400. */
const RECENT_CLOSES = 100

/** What the machine asked the host to do, recorded while the actor handles an event. */
type Intent =
  | { readonly type: "armExpiry"; readonly sessionId: string; readonly at: number }
  | { readonly type: "disarmExpiry"; readonly sessionId: string }
  | { readonly type: "announceClose"; readonly params: AnnounceCloseParams }
  | { readonly type: "finalize" }

export class SlotPool extends Effect.Service<SlotPool>()("app/SlotPool", {
  scoped: Effect.gen(function* () {
    const { maxSessions } = yield* WorkerConfig
    const callbacks = yield* CallbackPoster
    const metrics = yield* LoadMetrics
    const expiryTimers = yield* FiberMap.make<string>()
    const expiries = yield* FiberSet.make()
    const lock = yield* Effect.makeSemaphore(1)
    // An interrupted caller must never leave a slot half-taken: critical sections run to the end.
    const exclusive = <A, E>(effect: Effect.Effect<A, E>) => lock.withPermits(1)(Effect.uninterruptible(effect))

    // One live actor per slot. Its named intents only record what the host must do; the host
    // carries them out (as Effects) right after `send` returns, still inside the lock. A live actor
    // measured ~12× cheaper per event than `transition()`, which rebuilds an actor on every call.
    const intents: Array<Intent> = []
    const hostedMachine = slotMachine.provide({
      actions: {
        armExpiry: (_, params) => void intents.push({ type: "armExpiry", sessionId: params.sessionId, at: params.at }),
        disarmExpiry: (_, params) => void intents.push({ type: "disarmExpiry", sessionId: params.sessionId }),
        announceClose: (_, params) => void intents.push({ type: "announceClose", params }),
        finalize: () => void intents.push({ type: "finalize" })
      }
    })
    const actors = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Array.from({ length: maxSessions }, (_, slot) => {
          const actor = createActor(hostedMachine, { input: { slot } })
          // Without an error observer xstate rethrows actor errors from a timer, crashing Node.
          actor.subscribe({ error: () => undefined })
          return actor.start()
        })
      ),
      (all) => Effect.sync(() => all.forEach((actor) => actor.stop()))
    )
    const slotOf = new Map<string, number>()
    // Each open session's auth_data as a digest, so a check hashes only the candidate.
    const authDigests = new Map<string, Buffer>()
    const recentCloses: Array<ClosedSession> = []

    const snapshotAt = (slot: number) => {
      const actor = actors[slot]
      if (actor === undefined) throw new Error(`no slot ${slot}`)
      return actor.getSnapshot()
    }
    const stateOf = (slot: number): SlotStateValue => snapshotAt(slot).value
    const authorized = (sessionId: string, candidate: unknown): boolean => {
      const expected = authDigests.get(sessionId)
      return expected !== undefined && matchesSecret(candidate, expected)
    }
    const openSession = (sessionId: string): Option.Option<readonly [number, SlotSession]> => {
      const slot = slotOf.get(sessionId)
      if (slot === undefined) return Option.none()
      const session = snapshotAt(slot).context.session
      return session === null ? Option.none() : Option.some([slot, session] as const)
    }

    // Runs inside the lock: one event through the slot's actor, then the intents it recorded, in order.
    const step = (slot: number, event: SlotEvent): Effect.Effect<void> =>
      Effect.suspend(() => {
        intents.length = 0
        actors[slot]?.send(event)
        const snapshot = snapshotAt(slot)
        if (snapshot.status === "error") return Effect.die(snapshot.error)
        const todo = intents.splice(0)
        return Effect.forEach(
          todo,
          (intent): Effect.Effect<void> => {
            switch (intent.type) {
              case "armExpiry":
                return armExpiry(intent.sessionId, intent.at)
              case "disarmExpiry":
                return FiberMap.remove(expiryTimers, intent.sessionId)
              case "announceClose":
                return announceClose(slot, intent.params)
              case "finalize":
                return step(slot, { type: "slot.finalized" })
            }
          },
          { discard: true }
        )
      })

    // The timer hands the expiry to a separate fiber: closing interrupts the timer, and a fiber must
    // not wait for its own interruption.
    const armExpiry = (sessionId: string, at: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        FiberMap.run(
          expiryTimers,
          sessionId,
          Effect.sleep(Duration.millis(Math.max(0, at - now))).pipe(
            Effect.zipRight(FiberSet.run(expiries, Effect.interruptible(expire(sessionId))))
          )
        )
      ).pipe(Effect.asVoid)

    const expire = (sessionId: string): Effect.Effect<void> =>
      exclusive(
        Effect.gen(function* () {
          const open = openSession(sessionId)
          if (Option.isNone(open)) return
          const [slot] = open.value
          const now = yield* Clock.currentTimeMillis
          yield* step(slot, { type: "slot.expire", sessionId, now })
          // A timer may wake a hair before the deadline (the guard then ignores it): wait again.
          const stillOpen = openSession(sessionId)
          if (Option.isSome(stillOpen)) yield* armExpiry(sessionId, stillOpen.value[1].expiresAt)
        })
      ).pipe(
        Effect.annotateLogs({ sessionId }),
        Effect.catchAllCause((cause) => Effect.logError("session expiry failed", cause))
      )

    const announceClose = (slot: number, { at, reason, session }: AnnounceCloseParams) =>
      Effect.gen(function* () {
        slotOf.delete(session.id)
        authDigests.delete(session.id)
        recentCloses.push({ sessionId: session.id, slot, reason, closedAt: at })
        if (recentCloses.length > RECENT_CLOSES) recentCloses.shift()
        yield* metrics.sessionClosed(session.id)
        yield* Effect.logInfo(`session closed (${reason})`).pipe(Effect.annotateLogs({ sessionId: session.id }))
        if (session.onCloseRoute !== null) {
          yield* callbacks.post({
            sessionId: session.id,
            route: session.onCloseRoute,
            body: callbackBody(session.onClosePayload, session.id, reason),
            reason
          })
        }
      })

    const endInLock = (slot: number, sessionId: string, reason: EndReason) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => step(slot, { type: "slot.end", sessionId, reason, now }))

    const releaseAll = (reason: "released" | "shutdown") =>
      exclusive(
        Effect.gen(function* () {
          const closed: Array<string> = []
          for (const [sessionId, slot] of [...slotOf.entries()]) {
            yield* endInLock(slot, sessionId, reason)
            closed.push(sessionId)
          }
          return closed as ReadonlyArray<string>
        })
      )

    yield* Effect.addFinalizer(() => releaseAll("shutdown"))

    return {
      /** Take a free slot for a new session, or fail with `SlotsExhausted`. */
      create: (request: SessionRequest): Effect.Effect<SessionCreated, SlotsExhausted> =>
        exclusive(
          Effect.gen(function* () {
            const slot = actors.findIndex((actor) => actor.getSnapshot().value === "idle")
            if (slot < 0) {
              yield* metrics.sessionRejected({ requestIdx: request.requestIdx, workload: request.cost })
              return yield* new SlotsExhausted()
            }
            let sessionId = yield* newSessionId
            while (slotOf.has(sessionId)) sessionId = yield* newSessionId
            const now = yield* Clock.currentTimeMillis
            const session: SlotSession = {
              id: sessionId,
              authData: request.authData,
              cost: request.cost,
              requestIdx: request.requestIdx,
              lifetimeMs: request.lifetimeMs,
              createdAt: now,
              expiresAt: now + request.lifetimeMs,
              pingCount: 0,
              onCloseRoute: request.onCloseRoute,
              onClosePayload: request.onCloseRoute === null ? null : request.onClosePayload
            }
            slotOf.set(sessionId, slot)
            authDigests.set(sessionId, secretDigest(request.authData))
            yield* step(slot, { type: "slot.reserve", session })
            yield* metrics.sessionOpened(sessionId, { requestIdx: request.requestIdx, workload: request.cost })
            yield* Effect.logInfo("session created").pipe(Effect.annotateLogs({ sessionId }))
            return { sessionId, expiresAt: session.expiresAt }
          })
        ),

      /** Close a session on the client's word, proven by `session_auth`. */
      end: (
        sessionId: string,
        sessionAuth: unknown
      ): Effect.Effect<void, SessionNotFound | SessionAuthInvalid | SessionAlreadyClosed> =>
        exclusive(
          Effect.gen(function* () {
            const open = openSession(sessionId)
            if (Option.isNone(open)) {
              return yield* recentCloses.some((closed) => closed.sessionId === sessionId)
                ? new SessionAlreadyClosed({ sessionId })
                : new SessionNotFound({ sessionId })
            }
            const [slot] = open.value
            if (!authorized(sessionId, sessionAuth)) return yield* new SessionAuthInvalid()
            yield* endInLock(slot, sessionId, "ended")
          })
        ),

      /** The open session with this id, proven by `session_auth`; `None` when there is none. */
      find: (sessionId: string, sessionAuth: unknown): Effect.Effect<Option.Option<SlotSession>, SessionAuthInvalid> =>
        Effect.suspend(() => {
          const open = openSession(sessionId)
          if (Option.isNone(open)) return Effect.succeedNone
          const [, session] = open.value
          return authorized(sessionId, sessionAuth)
            ? Effect.succeedSome(session)
            : Effect.fail(new SessionAuthInvalid())
        }),

      /** A handler request inside a session: slides its expiry to now + lifetime. */
      ping: (sessionId: string, authData: unknown): Effect.Effect<SlotSession, InvalidSession | SessionAuthMismatch> =>
        exclusive(
          Effect.gen(function* () {
            const open = openSession(sessionId)
            if (Option.isNone(open)) return yield* new InvalidSession()
            const [slot, session] = open.value
            if (!authorized(sessionId, authData)) return yield* new SessionAuthMismatch()
            const now = yield* Clock.currentTimeMillis
            yield* step(slot, { type: "slot.ping", sessionId, now })
            return snapshotAt(slot).context.session ?? session
          })
        ),

      /** Close every open session (local `/release`, or shutdown); returns the closed ids. */
      releaseAll,

      /** Each slot's state and session, for `/debug` and tests. */
      slots: Effect.sync((): ReadonlyArray<SlotView> =>
        actors.map((actor, slot) => ({ slot, state: stateOf(slot), session: actor.getSnapshot().context.session }))
      ),

      /** The most recent closes, oldest first. */
      recentCloses: Effect.sync((): ReadonlyArray<ClosedSession> => recentCloses.slice())
    }
  })
}) {}
