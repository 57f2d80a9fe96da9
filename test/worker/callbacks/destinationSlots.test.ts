import { describe, expect, it } from "vitest"
import { makeDestinationSlots } from "../../../src/worker/callbacks/destinationSlots.js"

describe("the callback outbox's slots by destination", () => {
  it("a destination takes the shared slots (all but a quarter) at most; its first attempt always gets one", () => {
    // 8 slots: 2 kept for destinations with nothing in flight, 6 shared.
    const slots = makeDestinationSlots<string>(8)
    const taken = ["a1", "a2", "a3", "a4", "a5", "a6", "a7"].map((id) => slots.take("a", id))
    expect(taken).toEqual([true, true, true, true, true, true, false])
    expect([slots.take("b", "b1"), slots.take("c", "c1"), slots.take("b", "b2")]).toEqual([true, true, false])
    expect(slots.inFlight()).toBe(8)
  })

  it("an attempt that ends hands its slot on to the oldest delivery parked for its destination, in order", () => {
    const slots = makeDestinationSlots<string>(4)
    for (const id of ["a1", "a2", "a3"]) expect(slots.take("a", id)).toBe(true)
    for (const id of ["a4", "a5"]) expect(slots.take("a", id)).toBe(false)
    expect([slots.handOn("a"), slots.handOn("a"), slots.inFlight()]).toEqual(["a4", "a5", 3])
  })

  it("an attempt that ends with nothing parked gives its slot back in that same step: a delivery that comes next is not parked behind it", () => {
    // Review 35 M1: with the slot given back in a later step, a delivery parked in between waited for good.
    const slots = makeDestinationSlots<string>(4)
    for (const id of ["a1", "a2", "a3"]) expect(slots.take("a", id)).toBe(true)
    expect(slots.handOn("a")).toBeUndefined()
    expect(slots.inFlight()).toBe(2)
    expect(slots.take("a", "a4")).toBe(true)
    // Down to nothing in flight, the destination is free again for its first-attempt slot.
    for (let i = 0; i < 3; i++) expect(slots.handOn("a")).toBeUndefined()
    expect(slots.inFlight()).toBe(0)
    for (const id of ["b1", "b2", "b3"]) expect(slots.take("b", id)).toBe(true)
    expect(slots.take("a", "a5")).toBe(true)
  })

  it("with 2 or 3 slots one is still kept for other destinations: a destination with an attempt in flight is parked at the shared limit (review 39 L2)", () => {
    for (const concurrency of [2, 3]) {
      const slots = makeDestinationSlots<string>(concurrency)
      const own = Array.from({ length: concurrency }, (_, i) => slots.take("a", `a${i}`))
      expect(own, `${concurrency} slots`).toEqual([...Array.from({ length: concurrency - 1 }, () => true), false])
      expect(slots.take("b", "b1"), `${concurrency} slots`).toBe(true)
    }
  })

  it("a delivery to a destination with one parked is parked behind it, even when slots have come free since: its deliveries keep their order (review 39 L3)", () => {
    const slots = makeDestinationSlots<string>(4)
    expect([slots.take("a", "a1"), slots.take("b", "b1"), slots.take("b", "b2"), slots.take("a", "a2")]).toEqual([true, true, true, false])
    // b1 ends: a slot is free, but a2 is parked; a3 goes behind it, and a1's end hands on a2 first.
    expect(slots.handOn("b")).toBeUndefined()
    expect(slots.take("a", "a3")).toBe(false)
    expect([slots.handOn("a"), slots.handOn("a")]).toEqual(["a2", "a3"])
  })

  it("a slot given back without handing on (an interrupted attempt) frees its count; what is parked stays parked", () => {
    const slots = makeDestinationSlots<string>(4)
    for (const id of ["a1", "a2", "a3"]) expect(slots.take("a", id)).toBe(true)
    expect(slots.take("a", "a4")).toBe(false)
    slots.giveBack("a")
    expect(slots.inFlight()).toBe(2)
    expect(slots.handOn("a")).toBe("a4")
    expect(slots.inFlight()).toBe(2)
  })
})
