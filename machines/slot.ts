/**
 * One reservation slot of the null worker, as a pure xstate machine: the only place that decides what
 * happens to a slot and its session.
 *
 *                 reserve                         end | release | expire (deadline passed)
 *       idle ─────────────────▶ reserved ─────────────────────────────────────────────────▶ idle
 *        │                       │  ▲ │  ping (slides the deadline), expire (early: re-arm)
 *        │                       │  └─┘
 *        │ retire | shutdown     │ retire
 *        ▼                       ▼
 *     retired ◀──────────── retiring ──┐ ping, early expire
 *        ▲   end | release |     ▲     │
 *        │   expire | shutdown   └─────┘
 *        └──────────── shutdown (from reserved: closes the session)
 *
 * - `idle`: free; a create takes it.
 * - `reserved`: a session is open. The first close (end, release, expiry) frees the slot at once and
 *   announces the close; nothing else can close that session again, because its id no longer matches.
 * - `retiring`: the session stays open (drain) but the slot takes no new one once it closes.
 * - `retired`: takes no session again (drained, recycled or shutting down).
 * - Past the deadline, every event that acts on the open session (ping, end, release, shutdown) finds it expired
 *   first (`expiresFirst`): the timer is not the only one that looks at the clock.
 *
 * The machine does no I/O and reads no clock: time arrives as `now` in event payloads. What the host must
 * do is returned as named intents (`armExpiry`, `announceOpen`, `announceClose`, `refuse`) with typed
 * params; the host (`src/worker/slots/SlotPool.ts`) gets them as the transition's result and carries them out.
 */
import { timingSafeEqual } from "node:crypto"
import { assign, setup } from "xstate"

import type { CloseReason, ExpiryLimit, KeptPayload } from "../src/protocol/callback.js"

export type { CloseReason, ExpiryLimit }

/**
 * Why the machine did not do what an event asked. `expired`: the event came after the session's deadline (a process
 * paused past it, or a timer not yet run), which closed the session as expired instead. `busy`: a reserve on a slot
 * that holds a session (the host reserves only idle slots); `retired`: on a slot that takes none again.
 */
export type Refusal = "unknownSession" | "unauthorised" | "notTargeted" | "busy" | "retired" | "expired"

/**
 * The open session, as the slot knows it. Plain, serialisable data. `authDigest` is the hex SHA-256 of
 * the session's canonical `auth_data` (its secret), which the guards compare in constant time; `authDataText` is the
 * secret itself, kept only to answer `/session/get` to a caller who proves it: a `SlotSession` (or an intent that
 * carries one) is never logged or shown whole.
 */
export interface SlotSession {
  readonly id: string
  /** Per-worker fencing number, strictly increasing over the life of the process. */
  readonly generation: number
  readonly authDigest: string
  readonly cost: number
  readonly requestIdx: number
  readonly lifetimeMs: number
  readonly createdAt: number
  /** When the session closes unless pinged: `min(last ping or create + lifetime, capAt)`. */
  readonly expiresAt: number
  /** Which limit `expiresAt` is. */
  readonly limit: ExpiryLimit
  /** `createdAt + MAX_SESSION_SECONDS`, or `null` without a cap. */
  readonly capAt: number | null
  readonly pingCount: number
  /**
   * The create's `auth_data` as JSON text, written as it came (answered by `/session/get` to a caller who proves it).
   * Text, not the parsed value: 16,384 characters of empty objects took ~22 times that in heap (probe 46 M2).
   */
  readonly authDataText: string
  readonly onCloseRoute: string | null
  /** The `on_close_payload`, kept as the text its callback is made from (`NO_PAYLOAD` without a route). */
  readonly onClosePayload: KeptPayload
  /** The most characters its callback's text can take when there is a route (0 without): what the callback outbox reserves. */
  readonly callbackLength: number
}

/** Which session a local `/release` is for: whichever is open, or the one named by generation or id. */
export type ReleaseTarget =
  | { readonly _tag: "Any" }
  | { readonly _tag: "Generation"; readonly generation: number }
  | { readonly _tag: "Session"; readonly sessionId: string }

export interface LastClose {
  readonly sessionId: string
  readonly generation: number
  readonly reason: CloseReason
  readonly at: number
}

export interface SlotContext {
  readonly slot: number
  readonly session: SlotSession | null
  readonly lastClose: LastClose | null
}

export type SlotEvent =
  | { readonly type: "session.reserve"; readonly session: SlotSession }
  | { readonly type: "session.ping"; readonly sessionId: string; readonly authDigest: string; readonly now: number }
  | { readonly type: "session.end"; readonly sessionId: string; readonly authDigest: string; readonly now: number }
  | { readonly type: "session.release"; readonly target: ReleaseTarget; readonly now: number }
  | { readonly type: "session.expire"; readonly now: number }
  | { readonly type: "slot.retire" }
  | { readonly type: "slot.shutdown"; readonly now: number }

export type SlotStateValue = "idle" | "reserved" | "retiring" | "retired"

/** Intent params: what the host is asked to do. */
export interface ArmExpiryParams {
  readonly at: number
}
export interface AnnounceOpenParams {
  readonly session: SlotSession
}
export interface AnnounceCloseParams {
  readonly session: SlotSession
  readonly reason: CloseReason
  readonly at: number
  /** Set when `reason` is `expired`. */
  readonly limit: ExpiryLimit | null
}
export interface RefuseParams {
  readonly refusal: Refusal
}

const digestsEqual = (a: string, b: string): boolean => {
  const left = Buffer.from(a, "hex")
  const right = Buffer.from(b, "hex")
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right)
}

/**
 * Whether a caller naming `sessionId` with `authDigest` (the digest of its `session_auth`) may act on the
 * open session: the `authorised` guard, and the host's read-only routes (`/session/get`), use this one rule.
 */
export const isAuthorised = (session: SlotSession | null, sessionId: string, authDigest: string): boolean =>
  session !== null && session.id === sessionId && digestsEqual(session.authDigest, authDigest)

const openSession = (context: SlotContext): SlotSession => {
  // Only called in `reserved`/`retiring`, where a session is always stored.
  if (context.session === null) throw new Error("slot machine invariant: no session in a busy slot")
  return context.session
}

const targets = (session: SlotSession, target: ReleaseTarget): boolean => {
  switch (target._tag) {
    case "Any":
      return true
    case "Generation":
      return session.generation === target.generation
    case "Session":
      return session.id === target.sessionId
  }
}

/** The session after a ping at `now`: the deadline slides to now + lifetime, but never past the cap. */
const slid = (session: SlotSession, now: number): SlotSession => {
  const next = now + session.lifetimeMs
  const capped = session.capAt !== null && session.capAt <= next
  return {
    ...session,
    expiresAt: capped && session.capAt !== null ? session.capAt : next,
    limit: capped ? "cap" : "lifetime",
    pingCount: session.pingCount + 1
  }
}

const closing = (context: SlotContext, reason: CloseReason, at: number): AnnounceCloseParams => {
  const session = openSession(context)
  return { session, reason, at, limit: reason === "expired" ? session.limit : null }
}

const slotSetup = setup({
  types: {
    context: {} as SlotContext,
    events: {} as SlotEvent,
    input: {} as { readonly slot: number }
  },
  guards: {
    isCurrentSession: ({ context }, params: { readonly sessionId: string }) => context.session?.id === params.sessionId,
    // Constant-time: the digest of the caller's auth_data against the session's.
    authorised: ({ context }, params: { readonly sessionId: string; readonly authDigest: string }) =>
      isAuthorised(context.session, params.sessionId, params.authDigest),
    // A timer that wakes before the deadline (early, or after a ping moved it) does not close the session.
    deadlinePassed: ({ context }, params: { readonly now: number }) =>
      context.session !== null && params.now >= context.session.expiresAt,
    releaseTargetsSession: ({ context }, params: { readonly target: ReleaseTarget }) =>
      context.session !== null && targets(context.session, params.target)
  },
  actions: {
    storeSession: assign((_, params: { readonly session: SlotSession }) => ({ session: params.session })),
    // Sliding expiry: the deadline becomes now + lifetime (never past the cap); it never accumulates.
    slideExpiry: assign(({ context }, params: { readonly now: number }) => ({ session: slid(openSession(context), params.now) })),
    recordClose: assign(({ context }, params: { readonly reason: CloseReason; readonly at: number }) => {
      const session = openSession(context)
      return {
        session: null,
        lastClose: { sessionId: session.id, generation: session.generation, reason: params.reason, at: params.at }
      }
    }),
    // Intents for the host: no implementation here; the host reads their type and params.
    armExpiry: (_, _params: ArmExpiryParams) => {},
    announceOpen: (_, _params: AnnounceOpenParams) => {},
    announceClose: (_, _params: AnnounceCloseParams) => {},
    refuse: (_, _params: RefuseParams) => {}
  }
})

/**
 * The first candidate of every event that acts on an open session: after the deadline the session is expired, whoever
 * asks, as its timer would have closed it. The timer runs after requests already waiting (a process paused past a
 * deadline wakes to both), so without this a late ping would keep an expired session and a late release name it
 * released. Shutdown closes it as expired too, and is not refused (`refusal: null`).
 */
const expiresFirst = (closedTo: "idle" | "retired", refusal: Refusal | null) =>
  ({
    guard: { type: "deadlinePassed", params: ({ event }: { readonly event: { readonly now: number } }) => ({ now: event.now }) },
    target: closedTo,
    actions: [
      { type: "announceClose", params: ({ context, event }: { readonly context: SlotContext; readonly event: { readonly now: number } }) => closing(context, "expired", event.now) },
      { type: "recordClose", params: ({ event }: { readonly event: { readonly now: number } }) => ({ reason: "expired" as const, at: event.now }) },
      ...(refusal === null ? [] : [{ type: "refuse" as const, params: { refusal } }])
    ]
  }) as const

/**
 * The transitions of a slot whose session is open. `reserved` and `retiring` answer alike and differ only in
 * where a close leads (`closedTo`): built once, so the two cannot drift apart.
 */
const whileOpen = (closedTo: "idle" | "retired") =>
  slotSetup.createStateConfig({
    on: {
      // The host reserves only idle slots: a reserve here would be its bug, refused for what the slot is.
      "session.reserve": { actions: { type: "refuse", params: { refusal: "busy" } } },
      "session.ping": [
        expiresFirst(closedTo, "expired"),
        {
          guard: { type: "authorised", params: ({ event }) => ({ sessionId: event.sessionId, authDigest: event.authDigest }) },
          // A ping only moves the deadline later: the timer, armed for the old one, re-reads it when it wakes.
          actions: { type: "slideExpiry", params: ({ event }) => ({ now: event.now }) }
        },
        {
          guard: { type: "isCurrentSession", params: ({ event }) => ({ sessionId: event.sessionId }) },
          actions: { type: "refuse", params: { refusal: "unauthorised" } }
        },
        { actions: { type: "refuse", params: { refusal: "unknownSession" } } }
      ],
      "session.end": [
        expiresFirst(closedTo, "expired"),
        {
          guard: { type: "authorised", params: ({ event }) => ({ sessionId: event.sessionId, authDigest: event.authDigest }) },
          target: closedTo,
          actions: [
            { type: "announceClose", params: ({ context, event }) => closing(context, "ended", event.now) },
            { type: "recordClose", params: ({ event }) => ({ reason: "ended", at: event.now }) }
          ]
        },
        {
          guard: { type: "isCurrentSession", params: ({ event }) => ({ sessionId: event.sessionId }) },
          actions: { type: "refuse", params: { refusal: "unauthorised" } }
        },
        { actions: { type: "refuse", params: { refusal: "unknownSession" } } }
      ],
      "session.release": [
        expiresFirst(closedTo, "expired"),
        {
          guard: { type: "releaseTargetsSession", params: ({ event }) => ({ target: event.target }) },
          target: closedTo,
          actions: [
            { type: "announceClose", params: ({ context, event }) => closing(context, "released", event.now) },
            { type: "recordClose", params: ({ event }) => ({ reason: "released", at: event.now }) }
          ]
        },
        { actions: { type: "refuse", params: { refusal: "notTargeted" } } }
      ],
      "session.expire": [
        {
          guard: { type: "deadlinePassed", params: ({ event }) => ({ now: event.now }) },
          target: closedTo,
          actions: [
            { type: "announceClose", params: ({ context, event }) => closing(context, "expired", event.now) },
            { type: "recordClose", params: ({ event }) => ({ reason: "expired", at: event.now }) }
          ]
        },
        // Woken early, or after a ping moved the deadline: wait again for the current one.
        { actions: { type: "armExpiry", params: ({ context }) => ({ at: openSession(context).expiresAt }) } }
      ],
      // Shutdown closes the session and retires the slot, from either state.
      "slot.shutdown": [
        expiresFirst("retired", null),
        {
          target: "retired",
          actions: [
            { type: "announceClose", params: ({ context, event }) => closing(context, "shutdown", event.now) },
            { type: "recordClose", params: ({ event }) => ({ reason: "shutdown", at: event.now }) }
          ]
        }
      ]
    }
  })

export const slotMachine = slotSetup.createMachine({
  id: "slot",
  initial: "idle",
  context: ({ input }) => ({ slot: input.slot, session: null, lastClose: null }),
  states: {
    idle: {
      on: {
        "session.reserve": {
          target: "reserved",
          // The host arms the slot's expiry timer for `session.expiresAt` when it carries out `announceOpen`.
          actions: [
            { type: "storeSession", params: ({ event }) => ({ session: event.session }) },
            { type: "announceOpen", params: ({ event }) => ({ session: event.session }) }
          ]
        },
        "session.ping": { actions: { type: "refuse", params: { refusal: "unknownSession" } } },
        "session.end": { actions: { type: "refuse", params: { refusal: "unknownSession" } } },
        "session.release": { actions: { type: "refuse", params: { refusal: "notTargeted" } } },
        "slot.retire": { target: "retired" },
        "slot.shutdown": { target: "retired" }
      }
    },
    reserved: { on: { ...whileOpen("idle").on, "slot.retire": { target: "retiring" } } },
    retiring: whileOpen("retired"),
    retired: {
      on: {
        "session.reserve": { actions: { type: "refuse", params: { refusal: "retired" } } },
        "session.ping": { actions: { type: "refuse", params: { refusal: "unknownSession" } } },
        "session.end": { actions: { type: "refuse", params: { refusal: "unknownSession" } } },
        "session.release": { actions: { type: "refuse", params: { refusal: "notTargeted" } } }
      }
    }
  }
})

export type SlotMachine = typeof slotMachine
