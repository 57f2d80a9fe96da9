import { describe, expect, it } from "vitest"
import { RefusalRing } from "../../../src/worker/autoscaler/RefusalRing.js"

const idxs = (ring: RefusalRing, max = 100) => ring.peek(max).map((entry) => entry.requestIdx)

describe("RefusalRing", () => {
  it("keeps the newest `capacity` refusals, oldest first, with their times, and says how many it dropped", () => {
    const ring = new RefusalRing(3)
    expect([1, 2, 3, 4, 5].map((n) => ring.push(n, n * 10, n * 100))).toEqual([0, 0, 0, 1, 1])
    expect(ring.size).toBe(3)
    expect(ring.peek(2)).toEqual([
      { seq: 2, requestIdx: 3, enteredAt: 30, workStartedAt: 300 },
      { seq: 3, requestIdx: 4, enteredAt: 40, workStartedAt: 400 }
    ])
    expect(idxs(ring)).toEqual([3, 4, 5])
  })

  it("removes a delivered batch by its last sequence number; refusals pushed since stay", () => {
    const ring = new RefusalRing(10)
    for (const n of [1, 2, 3]) ring.push(n, 0, 0)
    const batch = ring.peek(2)
    ring.push(4, 0, 0)
    ring.removeThrough(batch.at(-1)!.seq)
    expect(idxs(ring)).toEqual([3, 4])
    // A late or repeated removal of the same batch, or of an older one, changes nothing.
    ring.removeThrough(batch.at(-1)!.seq)
    ring.removeThrough(batch[0]!.seq)
    expect(idxs(ring)).toEqual([3, 4])
  })

  it("once emptied by a delivery, it takes up to `capacity` new refusals again without dropping any", () => {
    const ring = new RefusalRing(3)
    for (const n of [1, 2, 3]) ring.push(n, 0, 0)
    ring.removeThrough(ring.peek(3).at(-1)!.seq)
    expect([4, 5, 6].map((n) => ring.push(n, 0, 0))).toEqual([0, 0, 0])
    expect(idxs(ring)).toEqual([4, 5, 6])
  })

  it("a batch partly dropped at the cap while it was sent is removed without touching newer entries", () => {
    const ring = new RefusalRing(3)
    for (const n of [1, 2, 3]) ring.push(n, 0, 0)
    const batch = ring.peek(3)
    for (const n of [4, 5]) ring.push(n, 0, 0) // drops 1 and 2, which were in the batch
    ring.removeThrough(batch.at(-1)!.seq)
    expect(idxs(ring)).toEqual([4, 5])
    expect(ring.size).toBe(2)
  })

  it("stays correct across many wraps", () => {
    const ring = new RefusalRing(5)
    for (let n = 0; n < 10_003; n++) ring.push(n, n, n)
    expect(idxs(ring)).toEqual([9998, 9999, 10000, 10001, 10002])
    ring.removeThrough(ring.peek(5).at(-1)!.seq)
    expect(ring.size).toBe(0)
    expect(ring.peek(5)).toEqual([])
  })
})
