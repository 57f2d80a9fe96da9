import { describe, expect, it } from "vitest"
import { initialTransition, transition } from "xstate"
import { getShortestPaths, getSimplePaths } from "xstate/graph"
import { type SlotEvent, type SlotStateValue, slotMachine } from "../../machines/slot.js"
import { slotSession } from "../support/sessions.js"

const session = slotSession({ id: "s1", createdAt: 0, expiresAt: 1000, lifetimeMs: 1000 })

const start = () => initialTransition(slotMachine, { slot: 0 })[0]
const reserved = () => transition(slotMachine, start(), { type: "slot.reserve", session })[0]
const releasing = () => transition(slotMachine, reserved(), { type: "slot.end", sessionId: "s1", reason: "ended", now: 10 })[0]

const fromState: Record<SlotStateValue, () => ReturnType<typeof start>> = { idle: start, reserved, releasing }

const events: Record<string, SlotEvent> = {
  reserve: { type: "slot.reserve", session },
  pingCurrent: { type: "slot.ping", sessionId: "s1", now: 400 },
  pingOther: { type: "slot.ping", sessionId: "other", now: 400 },
  endCurrent: { type: "slot.end", sessionId: "s1", reason: "ended", now: 10 },
  releaseCurrent: { type: "slot.end", sessionId: "s1", reason: "released", now: 10 },
  shutdownCurrent: { type: "slot.end", sessionId: "s1", reason: "shutdown", now: 10 },
  endOther: { type: "slot.end", sessionId: "other", reason: "ended", now: 10 },
  expireEarly: { type: "slot.expire", sessionId: "s1", now: 999 },
  expireAtDeadline: { type: "slot.expire", sessionId: "s1", now: 1000 },
  expireOther: { type: "slot.expire", sessionId: "other", now: 5000 },
  finalized: { type: "slot.finalized" }
}

const closing = ["disarmExpiry", "announceClose", "finalize"]

// Every state × every event: the next state and the intents the host must carry out.
const table: Array<[SlotStateValue, keyof typeof events, SlotStateValue, ReadonlyArray<string>]> = [
  ["idle", "reserve", "reserved", ["armExpiry"]],
  ["idle", "pingCurrent", "idle", []],
  ["idle", "pingOther", "idle", []],
  ["idle", "endCurrent", "idle", []],
  ["idle", "releaseCurrent", "idle", []],
  ["idle", "shutdownCurrent", "idle", []],
  ["idle", "endOther", "idle", []],
  ["idle", "expireEarly", "idle", []],
  ["idle", "expireAtDeadline", "idle", []],
  ["idle", "expireOther", "idle", []],
  ["idle", "finalized", "idle", []],
  ["reserved", "reserve", "reserved", []],
  ["reserved", "pingCurrent", "reserved", ["armExpiry"]],
  ["reserved", "pingOther", "reserved", []],
  ["reserved", "endCurrent", "releasing", closing],
  ["reserved", "releaseCurrent", "releasing", closing],
  ["reserved", "shutdownCurrent", "releasing", closing],
  ["reserved", "endOther", "reserved", []],
  ["reserved", "expireEarly", "reserved", []],
  ["reserved", "expireAtDeadline", "releasing", closing],
  ["reserved", "expireOther", "reserved", []],
  ["reserved", "finalized", "reserved", []],
  ["releasing", "reserve", "releasing", []],
  ["releasing", "pingCurrent", "releasing", []],
  ["releasing", "pingOther", "releasing", []],
  ["releasing", "endCurrent", "releasing", []],
  ["releasing", "releaseCurrent", "releasing", []],
  ["releasing", "shutdownCurrent", "releasing", []],
  ["releasing", "endOther", "releasing", []],
  ["releasing", "expireEarly", "releasing", []],
  ["releasing", "expireAtDeadline", "releasing", []],
  ["releasing", "expireOther", "releasing", []],
  ["releasing", "finalized", "idle", []]
]

describe("slot machine", () => {
  it("the table covers every state × event", () => {
    const covered = new Set(table.map(([state, event]) => `${state}/${event}`))
    for (const state of Object.keys(fromState)) {
      for (const event of Object.keys(events)) expect(covered).toContain(`${state}/${event}`)
    }
  })

  it.each(table)("%s --%s--> %s", (state, eventName, nextState, actionTypes) => {
    const [next, actions] = transition(slotMachine, fromState[state](), events[eventName]!)
    expect(next.value).toBe(nextState)
    expect(actions.map((action) => action.type)).toEqual(actionTypes)
  })

  it("reserve stores the session and arms expiry at its deadline", () => {
    const [next, actions] = transition(slotMachine, start(), events.reserve!)
    expect(next.context.session).toEqual(session)
    expect(actions[0]?.params).toEqual({ sessionId: "s1", at: 1000 })
  })

  it("ping slides the deadline to now + lifetime, it does not accumulate", () => {
    const [once] = transition(slotMachine, reserved(), { type: "slot.ping", sessionId: "s1", now: 400 })
    const [twice, actions] = transition(slotMachine, once, { type: "slot.ping", sessionId: "s1", now: 450 })
    expect(twice.context.session?.expiresAt).toBe(1450)
    expect(twice.context.session?.pingCount).toBe(2)
    expect(actions[0]?.params).toEqual({ sessionId: "s1", at: 1450 })
  })

  it("an expiry that was due before a ping is ignored after it", () => {
    const [pinged] = transition(slotMachine, reserved(), { type: "slot.ping", sessionId: "s1", now: 900 })
    const [next, actions] = transition(slotMachine, pinged, { type: "slot.expire", sessionId: "s1", now: 1000 })
    expect(next.value).toBe("reserved")
    expect(actions).toEqual([])
  })

  it.each([
    ["endCurrent", "ended", 10],
    ["releaseCurrent", "released", 10],
    ["shutdownCurrent", "shutdown", 10],
    ["expireAtDeadline", "expired", 1000]
  ] as const)("%s announces one close with reason %s", (eventName, reason, at) => {
    const [next, actions] = transition(slotMachine, reserved(), events[eventName]!)
    expect(next.context.closeReason).toBe(reason)
    expect(actions.find((action) => action.type === "announceClose")?.params).toEqual({ session, reason, at })
  })

  it("finalized clears the slot for the next session", () => {
    const [next] = transition(slotMachine, releasing(), events.finalized!)
    expect(next.context).toEqual({ slot: 0, session: null, closeReason: null, closedAt: null })
  })

  describe("graph", () => {
    const traversal = {
      events: Object.values(events),
      serializeState: (snapshot: ReturnType<typeof start>) => String(snapshot.value)
    }

    it("shortest paths reach every state", () => {
      const reached = getShortestPaths(slotMachine, { ...traversal, input: { slot: 0 } }).map((path) => path.state.value)
      expect(new Set(reached)).toEqual(new Set(["idle", "reserved", "releasing"]))
    })

    it("simple paths include every way to close", () => {
      const paths = getSimplePaths(slotMachine, { ...traversal, input: { slot: 0 } })
      const closers = paths
        .filter((path) => path.state.value === "releasing")
        .map((path) => path.state.context.closeReason)
      expect(new Set(closers)).toEqual(new Set(["ended", "released", "shutdown", "expired"]))
    })
  })
})
