import { assert } from "@effect/vitest"
import { describe, expect, it } from "vitest"
import { initialTransition, transition } from "xstate"
import { getShortestPaths, getSimplePaths } from "xstate/graph"
import { isAuthorised, type SlotEvent, type SlotStateValue, slotMachine } from "../../machines/slot.js"
import { secretDigestHex } from "../../src/shared/secretEquals.js"
import { authData, slotSession } from "../support/sessions.js"

const session = slotSession({ id: "s1", generation: 1, createdAt: 0, expiresAt: 1000, lifetimeMs: 1000 })
const digest = session.authDigest
const wrong = secretDigestHex({ ...authData(), signature: "forged" })

type Snapshot = ReturnType<typeof start>
const start = () => initialTransition(slotMachine, { slot: 0 })[0]
const step = (from: Snapshot, event: SlotEvent) => transition(slotMachine, from, event)[0]

const events = {
  reserve: { type: "session.reserve", session },
  pingCurrent: { type: "session.ping", sessionId: "s1", authDigest: digest, now: 400 },
  pingWrongAuth: { type: "session.ping", sessionId: "s1", authDigest: wrong, now: 400 },
  pingOther: { type: "session.ping", sessionId: "other", authDigest: digest, now: 400 },
  endCurrent: { type: "session.end", sessionId: "s1", authDigest: digest, now: 10 },
  endWrongAuth: { type: "session.end", sessionId: "s1", authDigest: wrong, now: 10 },
  endNoAuth: { type: "session.end", sessionId: "s1", authDigest: "", now: 10 },
  endOther: { type: "session.end", sessionId: "other", authDigest: digest, now: 10 },
  releaseAny: { type: "session.release", target: { _tag: "Any" }, now: 20 },
  releaseGeneration: { type: "session.release", target: { _tag: "Generation", generation: 1 }, now: 20 },
  releaseOldGeneration: { type: "session.release", target: { _tag: "Generation", generation: 7 }, now: 20 },
  releaseSession: { type: "session.release", target: { _tag: "Session", sessionId: "s1" }, now: 20 },
  releaseOtherSession: { type: "session.release", target: { _tag: "Session", sessionId: "other" }, now: 20 },
  expireEarly: { type: "session.expire", now: 999 },
  expireAtDeadline: { type: "session.expire", now: 1000 },
  retire: { type: "slot.retire" },
  shutdown: { type: "slot.shutdown", now: 30 },
  // At or past the deadline (1000) with the timer not run yet (a process paused past it): the session is expired.
  pingLate: { type: "session.ping", sessionId: "s1", authDigest: digest, now: 1000 },
  pingWrongAuthLate: { type: "session.ping", sessionId: "s1", authDigest: wrong, now: 1200 },
  endLate: { type: "session.end", sessionId: "s1", authDigest: digest, now: 1200 },
  releaseSessionLate: { type: "session.release", target: { _tag: "Session", sessionId: "s1" }, now: 1200 },
  releaseOtherSessionLate: { type: "session.release", target: { _tag: "Session", sessionId: "other" }, now: 1200 },
  shutdownLate: { type: "slot.shutdown", now: 1200 }
} satisfies Record<string, SlotEvent>

type EventName = keyof typeof events

const fromState: Record<SlotStateValue, () => Snapshot> = {
  idle: start,
  reserved: () => step(start(), events.reserve),
  retiring: () => step(step(start(), events.reserve), events.retire),
  retired: () => step(start(), events.retire)
}

/** Intents as `type` or `type:detail` (refusal, close reason). */
const intentsOf = (from: Snapshot, event: SlotEvent): ReadonlyArray<string> =>
  transition(slotMachine, from, event)[1].flatMap((action) => {
    switch (action.type) {
      case "refuse":
        return [`refuse:${(action.params as { refusal: string }).refusal}`]
      case "announceClose":
        return [`close:${(action.params as { reason: string }).reason}`]
      case "armExpiry":
      case "announceOpen":
        return [action.type]
      default:
        return []
    }
  })

// Every state × every event: the next state and the intents the host must carry out.
const open = (closed: "idle" | "retired", self: "reserved" | "retiring"): ReadonlyArray<[EventName, SlotStateValue, ReadonlyArray<string>]> => [
  ["reserve", self, ["refuse:busy"]],
  ["pingCurrent", self, []],
  ["pingWrongAuth", self, ["refuse:unauthorised"]],
  ["pingOther", self, ["refuse:unknownSession"]],
  ["endCurrent", closed, ["close:ended"]],
  ["endWrongAuth", self, ["refuse:unauthorised"]],
  ["endNoAuth", self, ["refuse:unauthorised"]],
  ["endOther", self, ["refuse:unknownSession"]],
  ["releaseAny", closed, ["close:released"]],
  ["releaseGeneration", closed, ["close:released"]],
  ["releaseOldGeneration", self, ["refuse:notTargeted"]],
  ["releaseSession", closed, ["close:released"]],
  ["releaseOtherSession", self, ["refuse:notTargeted"]],
  ["expireEarly", self, ["armExpiry"]],
  ["expireAtDeadline", closed, ["close:expired"]],
  ["retire", "retiring", []],
  ["shutdown", "retired", ["close:shutdown"]],
  ["pingLate", closed, ["close:expired", "refuse:expired"]],
  ["pingWrongAuthLate", closed, ["close:expired", "refuse:expired"]],
  ["endLate", closed, ["close:expired", "refuse:expired"]],
  ["releaseSessionLate", closed, ["close:expired", "refuse:expired"]],
  ["releaseOtherSessionLate", closed, ["close:expired", "refuse:expired"]],
  ["shutdownLate", "retired", ["close:expired"]]
]

const table: ReadonlyArray<[SlotStateValue, EventName, SlotStateValue, ReadonlyArray<string>]> = [
  ["idle", "reserve", "reserved", ["announceOpen"]],
  ...(["pingCurrent", "pingWrongAuth", "pingOther", "endCurrent", "endWrongAuth", "endNoAuth", "endOther", "pingLate", "pingWrongAuthLate", "endLate"] as const).map(
    (name): [SlotStateValue, EventName, SlotStateValue, ReadonlyArray<string>] => ["idle", name, "idle", ["refuse:unknownSession"]]
  ),
  ...(["releaseAny", "releaseGeneration", "releaseOldGeneration", "releaseSession", "releaseOtherSession", "releaseSessionLate", "releaseOtherSessionLate"] as const).map(
    (name): [SlotStateValue, EventName, SlotStateValue, ReadonlyArray<string>] => ["idle", name, "idle", ["refuse:notTargeted"]]
  ),
  ["idle", "expireEarly", "idle", []],
  ["idle", "expireAtDeadline", "idle", []],
  ["idle", "retire", "retired", []],
  ["idle", "shutdown", "retired", []],
  ["idle", "shutdownLate", "retired", []],
  ...open("idle", "reserved").map(([event, to, intents]): [SlotStateValue, EventName, SlotStateValue, ReadonlyArray<string>] => ["reserved", event, to, intents]),
  ...open("retired", "retiring").map(([event, to, intents]): [SlotStateValue, EventName, SlotStateValue, ReadonlyArray<string>] => [
    "retiring",
    event,
    // `retire` while retiring changes nothing.
    event === "retire" ? "retiring" : to,
    intents
  ]),
  ["retired", "reserve", "retired", ["refuse:retired"]],
  ...(["pingCurrent", "pingWrongAuth", "pingOther", "endCurrent", "endWrongAuth", "endNoAuth", "endOther", "pingLate", "pingWrongAuthLate", "endLate"] as const).map(
    (name): [SlotStateValue, EventName, SlotStateValue, ReadonlyArray<string>] => ["retired", name, "retired", ["refuse:unknownSession"]]
  ),
  ...(["releaseAny", "releaseGeneration", "releaseOldGeneration", "releaseSession", "releaseOtherSession", "releaseSessionLate", "releaseOtherSessionLate"] as const).map(
    (name): [SlotStateValue, EventName, SlotStateValue, ReadonlyArray<string>] => ["retired", name, "retired", ["refuse:notTargeted"]]
  ),
  ["retired", "expireEarly", "retired", []],
  ["retired", "expireAtDeadline", "retired", []],
  ["retired", "retire", "retired", []],
  ["retired", "shutdown", "retired", []],
  ["retired", "shutdownLate", "retired", []]
]

describe("slot machine", () => {
  it("the table covers every state × event once", () => {
    const covered = table.map(([state, event]) => `${state}/${event}`)
    expect(new Set(covered).size).toBe(covered.length)
    for (const state of Object.keys(fromState)) {
      for (const event of Object.keys(events)) expect(covered).toContain(`${state}/${event}`)
    }
  })

  it.each(table)("%s --%s--> %s %j", (state, eventName, nextState, intents) => {
    const from = fromState[state]()
    const event = events[eventName]
    expect(step(from, event).value).toBe(nextState)
    expect(intentsOf(from, event)).toEqual(intents)
  })

  it("reserve stores the session and announces it (the host arms the timer for its deadline)", () => {
    const [next, actions] = transition(slotMachine, start(), events.reserve)
    expect(next.context.session).toEqual(session)
    expect(actions.find((action) => action.type === "announceOpen")?.params).toEqual({ session })
  })

  it("ping slides the deadline to now + lifetime; it does not accumulate", () => {
    const once = step(fromState.reserved(), events.pingCurrent)
    const twice = step(once, { ...events.pingCurrent, now: 450 })
    expect(twice.context.session?.expiresAt).toBe(1450)
    expect(twice.context.session?.pingCount).toBe(2)
    // Without a cap the deadline is always the lifetime's, and an expiry after a ping says so.
    expect(twice.context.session?.limit).toBe("lifetime")
    const [, actions] = transition(slotMachine, twice, { type: "session.expire", now: 1450 })
    expect(actions.find((action) => action.type === "announceClose")?.params).toMatchObject({ reason: "expired", limit: "lifetime" })
  })

  it("a refused ping leaves the deadline and the count alone", () => {
    const after = step(fromState.reserved(), events.pingWrongAuth)
    expect(after.context.session?.expiresAt).toBe(1000)
    expect(after.context.session?.pingCount).toBe(0)
  })

  it("the cap: a ping never moves the deadline past created + cap, and the close says which limit ended it", () => {
    const capped = slotSession({ id: "s1", createdAt: 0, expiresAt: 1000, lifetimeMs: 1000, capAt: 1500 })
    const reserved = step(start(), { type: "session.reserve", session: capped })
    const pinged = step(reserved, { ...events.pingCurrent, now: 900 })
    expect(pinged.context.session?.expiresAt).toBe(1500)
    expect(pinged.context.session?.limit).toBe("cap")
    const [, actions] = transition(slotMachine, pinged, { type: "session.expire", now: 1500 })
    expect(actions.find((action) => action.type === "announceClose")?.params).toMatchObject({ reason: "expired", limit: "cap", at: 1500 })
    const early = step(reserved, { ...events.pingCurrent, now: 100 })
    expect([early.context.session?.expiresAt, early.context.session?.limit]).toEqual([1100, "lifetime"])
  })

  it("an expiry that was due before a ping is not a close after it: the machine asks to be armed for the new deadline", () => {
    const pinged = step(fromState.reserved(), { ...events.pingCurrent, now: 900 })
    const [next, actions] = transition(slotMachine, pinged, events.expireAtDeadline)
    expect(next.value).toBe("reserved")
    expect(actions.map((action) => [action.type, action.params])).toEqual([["armExpiry", { at: 1900 }]])
  })

  it.each([
    ["endCurrent", "ended", 10, null],
    ["releaseAny", "released", 20, null],
    ["shutdown", "shutdown", 30, null],
    ["expireAtDeadline", "expired", 1000, "lifetime"]
  ] as const)("%s announces one close with reason %s and records it", (eventName, reason, at, limit) => {
    const [next, actions] = transition(slotMachine, fromState.reserved(), events[eventName])
    expect(actions.filter((action) => action.type === "announceClose").map((action) => action.params)).toEqual([{ session, reason, at, limit }])
    expect(next.context.session).toBeNull()
    expect(next.context.lastClose).toEqual({ sessionId: "s1", generation: 1, reason, at })
  })

  it("an event after the deadline closes the session as expired at its own moment, whoever sends it, and the timer's later wake finds nothing", () => {
    const [next, actions] = transition(slotMachine, fromState.reserved(), events.pingWrongAuthLate)
    expect(actions.filter((action) => action.type === "announceClose").map((action) => action.params)).toEqual([{ session, reason: "expired", at: 1200, limit: "lifetime" }])
    expect(next.context.lastClose).toEqual({ sessionId: "s1", generation: 1, reason: "expired", at: 1200 })
    expect(intentsOf(next, { type: "session.expire", now: 1300 })).toEqual([])
    // One millisecond before it, the same ping acts as ever.
    const early = step(fromState.reserved(), { ...events.pingLate, now: 999 })
    expect([early.value, early.context.session?.expiresAt]).toEqual(["reserved", 1999])
  })

  it("after a close, nothing that names the old session acts on the slot's next one", () => {
    const reopened = step(step(fromState.reserved(), events.endCurrent), { type: "session.reserve", session: { ...session, id: "s2", generation: 2 } })
    expect(intentsOf(reopened, events.endCurrent)).toEqual(["refuse:unknownSession"])
    expect(intentsOf(reopened, events.releaseGeneration)).toEqual(["refuse:notTargeted"])
    expect(step(reopened, events.endCurrent).context.session?.id).toBe("s2")
  })

  it("isAuthorised needs the session's id and its digest; an empty digest never matches", () => {
    expect(isAuthorised(session, "s1", digest)).toBe(true)
    expect(isAuthorised(session, "s2", digest)).toBe(false)
    expect(isAuthorised(session, "s1", wrong)).toBe(false)
    expect(isAuthorised(session, "s1", "")).toBe(false)
    expect(isAuthorised(null, "s1", digest)).toBe(false)
  })

  it("isAuthorised never matches an empty or malformed digest, even against a session that has one", () => {
    assert.isFalse(isAuthorised(slotSession({ authDigest: "" }), "s1", ""))
    assert.isFalse(isAuthorised(slotSession({ authDigest: "zz" }), "s1", "zz"))
  })

  it("a ping whose new deadline falls exactly on the cap ends at the cap, and the close says the cap ended it", () => {
    const capped = slotSession({ id: "s1", createdAt: 0, expiresAt: 1000, lifetimeMs: 1000, capAt: 1500 })
    const pinged = step(step(start(), { type: "session.reserve", session: capped }), { ...events.pingCurrent, now: 500 })
    assert.deepStrictEqual([pinged.context.session?.expiresAt, pinged.context.session?.limit], [1500, "cap"])
  })

  it("while retiring, a ping still slides the deadline and an early wake asks to be armed for it", () => {
    const pinged = step(fromState.retiring(), events.pingCurrent)
    assert.deepStrictEqual([pinged.value, pinged.context.session?.expiresAt, pinged.context.session?.pingCount], ["retiring", 1400, 1])
    const [, actions] = transition(slotMachine, pinged, events.expireAtDeadline)
    assert.deepStrictEqual(actions.map((action) => [action.type, action.params]), [["armExpiry", { at: 1400 }]])
  })

  it.each([
    ["endCurrent", "ended", 10],
    ["releaseAny", "released", 20],
    ["shutdown", "shutdown", 30],
    ["expireAtDeadline", "expired", 1000]
  ] as const)("a close while retiring (%s) is recorded with reason %s and retires the slot", (eventName, reason, at) => {
    const next = step(fromState.retiring(), events[eventName])
    assert.strictEqual(next.value, "retired")
    assert.isNull(next.context.session)
    assert.deepStrictEqual(next.context.lastClose, { sessionId: "s1", generation: 1, reason, at })
  })

  describe("graph", () => {
    const traversal = {
      events: Object.values(events),
      // State value and how the last session closed: finite, and enough to tell the paths apart.
      serializeState: (snapshot: Snapshot) => `${String(snapshot.value)}:${snapshot.context.lastClose?.reason ?? "-"}`,
      input: { slot: 0 },
      limit: 2000
    }

    it("shortest paths reach every state", () => {
      const reached = getShortestPaths(slotMachine, traversal).map((path) => path.state.value)
      expect(new Set(reached)).toEqual(new Set(["idle", "reserved", "retiring", "retired"]))
    })

    it("simple paths close a session by every reason, from reserved and from retiring", () => {
      const paths = getSimplePaths(slotMachine, traversal)
      const closes = new Set(
        paths.flatMap((path) => (path.state.context.lastClose === null ? [] : [`${String(path.state.value)}:${path.state.context.lastClose.reason}`]))
      )
      for (const reason of ["ended", "released", "expired", "shutdown"]) expect(closes).toContain(`retired:${reason}`)
      for (const reason of ["ended", "released", "expired"]) expect(closes).toContain(`idle:${reason}`)
    })
  })
})
