import { FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import { and, assign, raise, setup } from "xstate"
import { type ReleaseTarget, type SlotEvent, slotMachine } from "../../../machines/slot.js"
import { secretDigestHex } from "../../../src/shared/secretEquals.js"
import { compileStepper, initialSlot, type SlotState, UnsupportedMachine, xstateStepper } from "../../../src/worker/slots/slotStep.js"
import { authData, slotSession } from "../../support/sessions.js"

const ids = ["s1", "s2", "s3"] as const
const digests = [secretDigestHex(authData()), secretDigestHex(authData({ signature: "other" })), ""] as const

/** Any event the pool can send, with ids, digests and times drawn from small sets so that they collide. */
const event: fc.Arbitrary<SlotEvent> = fc.oneof(
  fc
    .record({ id: fc.constantFrom(...ids), generation: fc.nat(5), now: fc.nat(3000), lifetime: fc.integer({ min: 1, max: 2000 }), capAt: fc.option(fc.nat(4000)) })
    .map(({ capAt, generation, id, lifetime, now }): SlotEvent => ({
      type: "session.reserve",
      session: slotSession({ id, generation, createdAt: now, lifetimeMs: lifetime, expiresAt: capAt === null ? now + lifetime : Math.min(capAt, now + lifetime), capAt, limit: capAt !== null && capAt <= now + lifetime ? "cap" : "lifetime" })
    })),
  fc
    .record({ type: fc.constantFrom("session.ping" as const, "session.end" as const), sessionId: fc.constantFrom(...ids), authDigest: fc.constantFrom(...digests), now: fc.nat(3000) })
    .map((ping): SlotEvent => ping),
  fc.record({
    target: fc.oneof(
      fc.constant<ReleaseTarget>({ _tag: "Any" }),
      fc.nat(5).map((generation): ReleaseTarget => ({ _tag: "Generation", generation })),
      fc.constantFrom(...ids).map((sessionId): ReleaseTarget => ({ _tag: "Session", sessionId }))
    ),
    now: fc.nat(3000)
  }).map(({ now, target }): SlotEvent => ({ type: "session.release", target, now })),
  fc.nat(4000).map((now): SlotEvent => ({ type: "session.expire", now })),
  fc.constant<SlotEvent>({ type: "slot.retire" }),
  fc.nat(3000).map((now): SlotEvent => ({ type: "slot.shutdown", now }))
)

describe("slotStep: the compiled machine", () => {
  it("agrees with xstate's own transition on every step of random event sequences: state, context and intents", () => {
    const compiled = compileStepper()
    const reference = xstateStepper()
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), (events) => {
        let fast: SlotState = initialSlot(0)
        let slow: SlotState = initialSlot(0)
        for (const next of events) {
          const [fastNext, fastIntents] = compiled(fast, next)
          const [slowNext, slowIntents] = reference(slow, next)
          expect(fastNext).toEqual(slowNext)
          expect(fastIntents).toEqual(slowIntents)
          fast = fastNext
          slow = slowNext
        }
      }),
      { numRuns: 500 }
    )
  })

  it("an event that changes nothing returns the same state object (the pool tells long polls nothing)", () => {
    const step = compileStepper()
    const idle = initialSlot(0)
    const [afterEnd, refusal] = step(idle, { type: "session.end", sessionId: "s1", authDigest: digests[0], now: 1 })
    expect(afterEnd).toBe(idle)
    expect(refusal).toEqual([{ type: "refuse", params: { refusal: "unknownSession" } }])
    const [afterExpire, nothing] = step(idle, { type: "session.expire", now: 1 })
    expect(afterExpire).toBe(idle)
    expect(nothing).toEqual([])
  })

  it("actions see the context as the actions before them left it; the close is announced with the session it closed", () => {
    const step = compileStepper()
    const session = slotSession()
    const [reserved] = step(initialSlot(0), { type: "session.reserve", session })
    const [idle, intents] = step(reserved, { type: "session.end", sessionId: session.id, authDigest: session.authDigest, now: 10 })
    expect(idle.value).toBe("idle")
    expect(idle.context.session).toBeNull()
    expect(idle.context.lastClose).toEqual({ sessionId: "s1", generation: 1, reason: "ended", at: 10 })
    expect(intents).toEqual([{ type: "announceClose", params: { session, reason: "ended", at: 10, limit: null } }])
  })

  describe("refuses, at start, a machine that uses more than it runs", () => {
    const base = setup({
      types: { context: {} as { n: number }, events: {} as { type: "go" } },
      guards: { yes: () => true, no: () => false },
      actions: { bump: assign(({ context }) => ({ n: context.n + 1 })), refuse: () => {}, other: () => {}, constant: assign({ n: 1 }), again: raise({ type: "go" }) }
    })
    const compile = (machine: unknown) => () => compileStepper(machine as typeof slotMachine)

    it("nested states", () => {
      const machine = base.createMachine({ initial: "a", context: { n: 0 }, states: { a: { initial: "x", states: { x: {} } } } })
      expect(compile(machine)).toThrow(UnsupportedMachine)
      expect(compile(machine)).toThrow(/nested states/)
    })
    it("entry or exit actions", () => {
      const machine = base.createMachine({ initial: "a", context: { n: 0 }, states: { a: { entry: "bump" } } })
      expect(compile(machine)).toThrow(/entry or exit/)
    })
    it("eventless and delayed transitions", () => {
      expect(compile(base.createMachine({ initial: "a", context: { n: 0 }, states: { a: { always: { target: "b" } }, b: {} } }))).toThrow(/eventless/)
      // xstate turns `after` into entry and exit actions (a delayed raise and its cancel): refused either way.
      expect(compile(base.createMachine({ initial: "a", context: { n: 0 }, states: { a: { after: { 10: "b" } }, b: {} } }))).toThrow(UnsupportedMachine)
    })
    it("wildcard events", () => {
      expect(compile(base.createMachine({ initial: "a", context: { n: 0 }, states: { a: { on: { "*": "b" } }, b: {} } }))).toThrow(/wildcard/)
    })
    it("inline guards and actions that are neither assign nor a named intent", () => {
      expect(compile(base.createMachine({ initial: "a", context: { n: 0 }, states: { a: { on: { go: { guard: () => true, target: "b" } } }, b: {} } }))).toThrow(
        /named guards/
      )
      expect(compile(base.createMachine({ initial: "a", context: { n: 0 }, states: { a: { on: { go: { actions: "other" } } } } }))).toThrow(/named intents/)
    })
    it("actions it does not know, assignments that are not functions, built-in actions", () => {
      const on = (actions: unknown) => base.createMachine({ initial: "a", context: { n: 0 }, states: { a: { on: { go: { actions } } } } } as never)
      expect(compile(on("missing"))).toThrow(/state a on go: only named actions are supported/)
      expect(compile(on("constant"))).toThrow(/state a on go: constant: only function assignments are supported/)
      expect(compile(on("again"))).toThrow(/state a on go: again: only assign and the named intents are supported/)
    })
    it("guards it does not know, higher-order guards given a name, built-in actions given an intent's name", () => {
      const named = setup({
        types: { context: {} as { n: number }, events: {} as { type: "go" } },
        guards: { yes: () => true, both: and(["yes", "yes"]) },
        actions: { refuse: raise({ type: "go" }) }
      })
      const guarded = (guard: string) => named.createMachine({ initial: "a", context: { n: 0 }, states: { a: { on: { go: { guard, target: "b" } } }, b: {} } } as never)
      expect(compile(guarded("nope"))).toThrow(/state a on go: only named guards with params are supported/)
      expect(compile(guarded("both"))).toThrow(/state a on go: only named guards with params are supported/)
      expect(compile(named.createMachine({ initial: "a", context: { n: 0 }, states: { a: { on: { go: { actions: "refuse" } } } } }))).toThrow(
        /state a on go: refuse: only assign and the named intents are supported/
      )
    })
    it("higher-order guards, and targets below the top level", () => {
      expect(compile(base.createMachine({ initial: "a", context: { n: 0 }, states: { a: { on: { go: { guard: and(["yes", "yes"]), target: "b" } } }, b: {} } }))).toThrow(
        /state a on go: only named guards with params are supported/
      )
      const deep = base.createMachine({ initial: "a", context: { n: 0 }, states: { a: { on: { go: { target: "#inner" } } }, b: { initial: "inner", states: { inner: { id: "inner" } } } } })
      expect(compile(deep)).toThrow(/state a on go: targets outside the top level/)
    })
    it("but compiles one that uses only those (named guards, assign, intents)", () => {
      const machine = base.createMachine({
        initial: "a",
        context: { n: 0 },
        states: { a: { on: { go: { guard: "yes", target: "b", actions: ["bump", { type: "refuse" }] } } }, b: {} }
      })
      const [next, intents] = compile(machine)()({ value: "a", context: { n: 0 } } as never, { type: "go" } as never)
      expect(next).toEqual({ value: "b", context: { n: 1 } })
      expect(intents).toEqual([{ type: "refuse", params: undefined }])
    })
    it("an event whose every candidate's guard fails changes nothing", () => {
      const machine = base.createMachine({ initial: "a", context: { n: 0 }, states: { a: { on: { go: { guard: "no", target: "b", actions: "bump" } } }, b: {} } })
      const state = { value: "a", context: { n: 0 } }
      const [next, intents] = compile(machine)()(state as never, { type: "go" } as never)
      expect(next).toBe(state)
      expect(intents).toEqual([])
    })
  })
})
