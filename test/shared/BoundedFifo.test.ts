import { describe, expect, it } from "vitest"
import { BoundedFifo } from "../../src/shared/BoundedFifo.js"

describe("BoundedFifo", () => {
  it("keeps the newest `capacity` items, oldest first, and says how many it dropped", () => {
    const fifo = new BoundedFifo<number>(3)
    expect([fifo.push(1), fifo.push(2), fifo.push(3), fifo.push(4), fifo.push(5)]).toEqual([0, 0, 0, 1, 1])
    expect(fifo.size).toBe(3)
    expect(fifo.peek(10)).toEqual([3, 4, 5])
    expect(fifo.peek(2)).toEqual([3, 4])
  })
  it("removes delivered items by identity; later ones stay", () => {
    const items = [{ n: 1 }, { n: 2 }, { n: 3 }]
    const fifo = new BoundedFifo<{ n: number }>(10)
    for (const item of items) fifo.push(item)
    const batch = fifo.peek(2)
    fifo.push({ n: 4 })
    fifo.removeDelivered(new Set(batch))
    expect(fifo.peek(10).map((item) => item.n)).toEqual([3, 4])
  })
  it("removes a delivered batch even when the cap dropped part of it meanwhile", () => {
    const fifo = new BoundedFifo<{ n: number }>(3)
    for (const n of [1, 2, 3]) fifo.push({ n })
    const batch = fifo.peek(3)
    fifo.push({ n: 4 }) // drops 1, which was in the batch
    fifo.removeDelivered(new Set(batch))
    expect(fifo.peek(10).map((item) => item.n)).toEqual([4])
    fifo.push({ n: 5 })
    expect(fifo.peek(10).map((item) => item.n)).toEqual([4, 5])
  })
  it("empties completely when everything was delivered", () => {
    const fifo = new BoundedFifo<number>(4)
    for (const n of [1, 2]) fifo.push(n)
    fifo.removeDelivered(new Set(fifo.peek(2)))
    expect(fifo.size).toBe(0)
    fifo.push(3)
    expect(fifo.peek(10)).toEqual([3])
  })
  it("stays correct across many wraps (the moving head is compacted)", () => {
    const fifo = new BoundedFifo<number>(5)
    for (let i = 0; i < 10_000; i++) fifo.push(i)
    expect(fifo.peek(5)).toEqual([9995, 9996, 9997, 9998, 9999])
    expect(fifo.size).toBe(5)
  })
})
