/**
 * One reservation slot of the null worker, as a pure xstate machine.
 *
 *            RESERVE(session)                 END(reason) | EXPIRE(now ≥ expiresAt)
 *   idle ───────────────────────▶ reserved ─────────────────────────────────────▶ releasing
 *    ▲                             │  ▲                                               │
 *    │                             └──┘ PING(now): expiresAt = now + lifetime         │
 *    └─────────────────────────────────────────── FINALIZED ◀─────────────────────────┘
 *
 * The machine does no I/O and reads no clock: time arrives as `now` in event payloads, and the
 * world-touching actions are named intents (`armExpiry`, `disarmExpiry`, `announceClose`, `finalize`)
 * that the host (`src/slots/SlotPool.ts`) interprets. Because every close goes through this machine and
 * `releasing` ignores further closes, racing closers yield exactly one close.
 */
import { assign, setup } from "xstate"

/** Why a session ended. `ended`: `/session/end`; `released`: local `/release`; `expired`: lifetime ran out. */
export type CloseReason = "ended" | "released" | "expired" | "shutdown"

/** A close reason that a caller chooses (expiry is the machine's own, through `slot.expire`). */
export type EndReason = Exclude<CloseReason, "expired">

/**
 * What the slot knows about its session. Plain, serialisable data; `authData` is the session's
 * secret (`session_auth`) and is never shown by the host.
 */
export interface SlotSession {
  readonly id: string
  readonly authData: Readonly<Record<string, unknown>>
  readonly cost: number
  readonly requestIdx: number
  readonly lifetimeMs: number
  readonly createdAt: number
  readonly expiresAt: number
  readonly pingCount: number
  readonly onCloseRoute: string | null
  readonly onClosePayload: unknown
}

export interface SlotContext {
  readonly slot: number
  readonly session: SlotSession | null
  readonly closeReason: CloseReason | null
  readonly closedAt: number | null
}

export type SlotEvent =
  | { readonly type: "slot.reserve"; readonly session: SlotSession }
  | { readonly type: "slot.ping"; readonly sessionId: string; readonly now: number }
  | { readonly type: "slot.end"; readonly sessionId: string; readonly reason: EndReason; readonly now: number }
  | { readonly type: "slot.expire"; readonly sessionId: string; readonly now: number }
  | { readonly type: "slot.finalized" }

export type SlotEventType = SlotEvent["type"]

export const slotEventTypes: ReadonlyArray<SlotEventType> = [
  "slot.reserve",
  "slot.ping",
  "slot.end",
  "slot.expire",
  "slot.finalized"
]

export type SlotStateValue = "idle" | "reserved" | "releasing"

/** Parameters of the intents the host carries out. */
export interface ArmExpiryParams {
  readonly sessionId: string
  readonly at: number
}
export interface DisarmExpiryParams {
  readonly sessionId: string
}
export interface AnnounceCloseParams {
  readonly session: SlotSession
  readonly reason: CloseReason
  readonly at: number
}

const currentSession = (context: SlotContext): SlotSession => {
  // Only reachable from `reserved`/`releasing`, where a session is always stored.
  if (context.session === null) throw new Error("slot machine invariant: no session in a busy slot")
  return context.session
}

const targetsCurrent = (context: SlotContext, sessionId: string): boolean => context.session?.id === sessionId

export const slotMachine = setup({
  types: {
    context: {} as SlotContext,
    events: {} as SlotEvent,
    input: {} as { readonly slot: number }
  },
  guards: {
    isCurrentSession: ({ context, event }) =>
      (event.type === "slot.ping" || event.type === "slot.end" || event.type === "slot.expire") &&
      targetsCurrent(context, event.sessionId),
    // A timer that fires after a ping moved the deadline is stale: the guard drops it.
    deadlinePassed: ({ context, event }) =>
      event.type === "slot.expire" &&
      targetsCurrent(context, event.sessionId) &&
      event.now >= currentSession(context).expiresAt
  },
  actions: {
    storeSession: assign(({ event }) =>
      event.type === "slot.reserve" ? { session: event.session, closeReason: null, closedAt: null } : {}
    ),
    // Sliding expiry: the deadline becomes now + lifetime, it never accumulates.
    slideExpiry: assign(({ context, event }) => {
      if (event.type !== "slot.ping") return {}
      const session = currentSession(context)
      return {
        session: { ...session, expiresAt: event.now + session.lifetimeMs, pingCount: session.pingCount + 1 }
      }
    }),
    recordEnd: assign(({ event }) =>
      event.type === "slot.end" ? { closeReason: event.reason, closedAt: event.now } : {}
    ),
    recordExpiry: assign(({ event }) =>
      event.type === "slot.expire" ? { closeReason: "expired" as const, closedAt: event.now } : {}
    ),
    clearSession: assign({ session: null, closeReason: null, closedAt: null }),
    // Intents for the host: no implementation here, the host reads type + params.
    armExpiry: (_, _params: ArmExpiryParams) => {},
    disarmExpiry: (_, _params: DisarmExpiryParams) => {},
    announceClose: (_, _params: AnnounceCloseParams) => {},
    finalize: () => {}
  }
}).createMachine({
  id: "slot",
  initial: "idle",
  context: ({ input }) => ({ slot: input.slot, session: null, closeReason: null, closedAt: null }),
  states: {
    idle: {
      on: {
        "slot.reserve": {
          target: "reserved",
          actions: [
            "storeSession",
            {
              type: "armExpiry",
              params: ({ context }) => {
                const session = currentSession(context)
                return { sessionId: session.id, at: session.expiresAt }
              }
            }
          ]
        }
      }
    },
    reserved: {
      on: {
        "slot.ping": {
          guard: "isCurrentSession",
          actions: [
            "slideExpiry",
            {
              type: "armExpiry",
              params: ({ context }) => {
                const session = currentSession(context)
                return { sessionId: session.id, at: session.expiresAt }
              }
            }
          ]
        },
        "slot.end": { guard: "isCurrentSession", target: "releasing", actions: "recordEnd" },
        "slot.expire": { guard: "deadlinePassed", target: "releasing", actions: "recordExpiry" }
      }
    },
    releasing: {
      // END, EXPIRE and PING are deliberately not handled here: the first close wins.
      entry: [
        { type: "disarmExpiry", params: ({ context }) => ({ sessionId: currentSession(context).id }) },
        {
          type: "announceClose",
          params: ({ context }) => ({
            session: currentSession(context),
            reason: context.closeReason ?? "ended",
            at: context.closedAt ?? currentSession(context).expiresAt
          })
        },
        "finalize"
      ],
      on: {
        "slot.finalized": { target: "idle", actions: "clearSession" }
      }
    }
  }
})

export type SlotMachine = typeof slotMachine
