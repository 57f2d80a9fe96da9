import { FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import { DeletionRing } from "../../../src/worker/autoscaler/DeletionRing.js"

/** The oldest `max` entries with their sequence numbers, read through the ring's one way out. */
const peek = (ring: DeletionRing, max: number) => {
  const entries: Array<{ seq: number; requestIdx: number; enteredAt: number; workStartedAt: number; workCompletedAt: number }> = []
  const last = ring.forEachOldest(max, (requestIdx, enteredAt, workStartedAt, workCompletedAt) =>
    entries.push({ seq: 0, requestIdx, enteredAt, workStartedAt, workCompletedAt })
  )
  return entries.map((entry, i) => ({ ...entry, seq: last - entries.length + 1 + i }))
}
const idxs = (ring: DeletionRing, max = 100) => peek(ring, max).map((entry) => entry.requestIdx)
const lastSeq = (ring: DeletionRing, max: number) => ring.forEachOldest(max, () => undefined)

describe("DeletionRing", () => {
  it("keeps the newest `capacity` records, oldest first, with their times, and says how many it dropped", () => {
    const ring = new DeletionRing(3)
    expect([1, 2, 3, 4, 5].map((n) => ring.push(n, n * 10, n * 100, n * 1000))).toEqual([0, 0, 0, 1, 1])
    expect(ring.size).toBe(3)
    expect(peek(ring, 2)).toEqual([
      { seq: 2, requestIdx: 3, enteredAt: 30, workStartedAt: 300, workCompletedAt: 3000 },
      { seq: 3, requestIdx: 4, enteredAt: 40, workStartedAt: 400, workCompletedAt: 4000 }
    ])
    expect(idxs(ring)).toEqual([3, 4, 5])
  })

  it("visits the oldest `max` entries in order and returns the last one's sequence number (-1 for none)", () => {
    const ring = new DeletionRing(10)
    expect(lastSeq(ring, 5)).toBe(-1)
    for (const n of [7, 8, 9]) ring.push(n, n + 1, n + 2, n + 3)
    const seen: Array<Array<number>> = []
    expect(ring.forEachOldest(2, (...fields) => seen.push(fields))).toBe(1)
    expect(seen).toEqual([
      [7, 8, 9, 10],
      [8, 9, 10, 11]
    ])
    expect(lastSeq(ring, 0)).toBe(-1)
    expect(lastSeq(ring, -3)).toBe(-1)
  })

  it("removes a delivered batch by its last sequence number; records pushed since stay", () => {
    const ring = new DeletionRing(10)
    for (const n of [1, 2, 3]) ring.push(n, 0, 0, 0)
    const through = lastSeq(ring, 2)
    ring.push(4, 0, 0, 0)
    ring.removeThrough(through)
    expect(idxs(ring)).toEqual([3, 4])
    // A late or repeated removal of the same batch, or of an older one, or of none, changes nothing.
    ring.removeThrough(through)
    ring.removeThrough(0)
    ring.removeThrough(-1)
    expect(idxs(ring)).toEqual([3, 4])
  })

  it("once emptied by a delivery, it takes up to `capacity` new records again without dropping any", () => {
    const ring = new DeletionRing(3)
    for (const n of [1, 2, 3]) ring.push(n, 0, 0, 0)
    ring.removeThrough(lastSeq(ring, 3))
    expect([4, 5, 6].map((n) => ring.push(n, 0, 0, 0))).toEqual([0, 0, 0])
    expect(idxs(ring)).toEqual([4, 5, 6])
  })

  it("a batch partly dropped at the cap while it was sent is removed without touching newer entries", () => {
    const ring = new DeletionRing(3)
    for (const n of [1, 2, 3]) ring.push(n, 0, 0, 0)
    const through = lastSeq(ring, 3)
    for (const n of [4, 5]) ring.push(n, 0, 0, 0) // drops 1 and 2, which were in the batch
    ring.removeThrough(through)
    expect(idxs(ring)).toEqual([4, 5])
    expect(ring.size).toBe(2)
  })

  it("stays correct across many wraps", () => {
    const ring = new DeletionRing(5)
    for (let n = 0; n < 10_003; n++) ring.push(n, n, n, n)
    expect(idxs(ring)).toEqual([9998, 9999, 10000, 10001, 10002])
    ring.removeThrough(lastSeq(ring, 5))
    expect(ring.size).toBe(0)
    expect(peek(ring, 5)).toEqual([])
  })

  it("grows past its first columns while records are kept, wrapped or not, and keeps every field of every record", () => {
    // Deliveries now and then leave the ring's start in the middle of its columns when it has to grow.
    const ring = new DeletionRing(50_000)
    let next = 0
    let expectedOldest = 0
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 700 * (round + 1); i++, next++) expect(ring.push(next, next + 0.5, next + 0.25, next + 0.125)).toBe(0)
      ring.removeThrough(lastSeq(ring, 333))
      expectedOldest += 333
    }
    const kept = peek(ring, 100_000)
    expect(kept.length).toBe(next - expectedOldest)
    kept.forEach((entry, i) => {
      const n = expectedOldest + i
      expect(entry).toEqual({ seq: n, requestIdx: n, enteredAt: n + 0.5, workStartedAt: n + 0.25, workCompletedAt: n + 0.125 })
    })
  })

  it("holds what a plain list holds, through growths that start anywhere in the columns (property)", () => {
    // Pushes and deliveries in any order, with a capacity that is not a power of two, so that the last growth
    // is to a ring of another shape and the runs it copies break at different places in the old and new columns.
    const step = fc.oneof(fc.record({ push: fc.integer({ min: 1, max: 1500 }) }), fc.record({ deliver: fc.integer({ min: 0, max: 1500 }) }))
    fc.assert(
      fc.property(fc.integer({ min: 1025, max: 5000 }), fc.array(step, { minLength: 1, maxLength: 12 }), (capacity, steps) => {
        const ring = new DeletionRing(capacity)
        const model: Array<number> = []
        let next = 0
        for (const s of steps) {
          if ("push" in s) {
            for (let i = 0; i < s.push; i++, next++) {
              const dropped = ring.push(next, next + 0.5, next + 0.25, next + 0.125)
              model.push(next)
              const expected = model.length > capacity ? 1 : 0
              if (expected === 1) model.shift()
              if (dropped !== expected) return false
            }
          } else {
            ring.removeThrough(lastSeq(ring, s.deliver))
            model.splice(0, Math.min(s.deliver, model.length))
          }
          if (ring.room > capacity) return false
        }
        const kept = peek(ring, capacity)
        return (
          kept.length === model.length &&
          kept.every((entry, i) => entry.requestIdx === model[i] && entry.seq === model[i] && entry.enteredAt === model[i]! + 0.5 && entry.workStartedAt === model[i]! + 0.25 && entry.workCompletedAt === model[i]! + 0.125)
        )
      }),
      { numRuns: 200 }
    )
  })

  it("grows no further than `capacity`: at the cap the oldest go, as for a ring that started full", () => {
    const ring = new DeletionRing(3000)
    const dropped = Array.from({ length: 3010 }, (_, n) => ring.push(n, 0, 0, 0)).reduce((a, b) => a + b, 0)
    expect(dropped).toBe(10)
    expect(ring.size).toBe(3000)
    expect(idxs(ring, 2)).toEqual([10, 11])
    expect(peek(ring, 3000).at(-1)?.requestIdx).toBe(3009)
  })
  it("starts with room for 1,024 records, doubles only when full, and never holds more than `capacity`", () => {
    const ring = new DeletionRing(3000)
    const rooms: Array<number> = [ring.room]
    for (let n = 0; n < 3500; n++) {
      ring.push(n, 0, 0, 0)
      if (n === 1022 || n === 1023 || n === 1024 || n === 2047 || n === 2048 || n === 3499) rooms.push(ring.room)
    }
    expect(rooms).toEqual([1024, 1024, 1024, 2048, 2048, 3000, 3000])
    // A small ring is as small as its capacity; records that are delivered make room without growing.
    const small = new DeletionRing(3)
    expect(small.room).toBe(3)
    const steady = new DeletionRing(50_000)
    for (let n = 0; n < 10_000; n++) {
      steady.push(n, 0, 0, 0)
      if (n % 500 === 499) steady.removeThrough(lastSeq(steady, 500))
    }
    expect(steady.room).toBe(1024)
  })

  it("an emptied ring says -1 for a batch with nothing in it, whatever it held before", () => {
    const ring = new DeletionRing(10)
    for (const n of [1, 2, 3]) ring.push(n, 0, 0, 0)
    ring.removeThrough(lastSeq(ring, 3))
    expect(ring.size).toBe(0)
    expect(lastSeq(ring, 5)).toBe(-1)
  })
})
