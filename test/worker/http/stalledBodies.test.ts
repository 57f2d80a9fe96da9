import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { type BodyProgress, makeStalledBodies } from "../../../src/worker/http/stalledBodies.js"

const MIN_STALL = 5_000

interface FakeSocket {
  readonly name: string
  bytes: number
  destroyed: boolean
}

/** Bodies on named connections, a clock the test moves, and the bytes each connection has received. */
const bodies = () => {
  let now = 0
  const reading = new Map<FakeSocket, BodyProgress>()
  const sockets = new Map<string, FakeSocket>()
  // The listener's connections: every one begun, some with a body being read.
  const stalled = makeStalledBodies<FakeSocket>({ [Symbol.iterator]: () => sockets.values() }, reading, MIN_STALL, () => now, (socket) => socket.bytes, (socket) => socket.destroyed)
  return {
    advance: (ms: number) => void (now += ms),
    /** A body begins to be read on a new connection that has received `bytes`, as `readBody` records it. */
    begin: (name: string, bytes = 100) => {
      const socket = { name, bytes, destroyed: false }
      sockets.set(name, socket)
      reading.set(socket, { seenBytes: bytes, seenAt: now })
    },
    receive: (name: string, bytes = 1) => void (sockets.get(name)!.bytes += bytes),
    /** Its body read to the end (or refused): its entry goes, as `release` removes it. */
    end: (name: string) => void reading.delete(sockets.get(name)!),
    /** Its connection closed without the body's end having removed the entry. */
    destroy: (name: string) => void (sockets.get(name)!.destroyed = true),
    take: () => stalled.takeLongestStalled()?.name,
    size: () => reading.size
  }
}

describe("the request body that gives way at the cap", () => {
  it("the one stalled the longest, once stalled long enough from its start; given once", () => {
    const b = bodies()
    b.begin("a")
    b.advance(1_000)
    b.begin("b")
    b.advance(MIN_STALL - 1_001)
    expect(b.take()).toBeUndefined()
    b.advance(1)
    expect(b.take()).toBe("a")
    expect(b.take()).toBeUndefined()
    b.advance(1_000)
    expect(b.take()).toBe("b")
    expect(b.size()).toBe(0)
  })

  it("of bodies stalled as long, the one begun first", () => {
    const b = bodies()
    b.begin("first")
    b.begin("second")
    b.advance(MIN_STALL)
    expect([b.take(), b.take()]).toEqual(["first", "second"])
  })

  it("a body that moved keeps its place: its stall counts from the look that saw it move", () => {
    const b = bodies()
    b.begin("slow")
    b.advance(4_000)
    b.receive("slow")
    b.advance(2_000)
    // 6 s since its start, but it moved: this look sees it, and counts from now.
    expect(b.take()).toBeUndefined()
    b.advance(MIN_STALL - 1)
    expect(b.take()).toBeUndefined()
    b.advance(1)
    expect(b.take()).toBe("slow")
  })

  it("a body read to the end, or whose connection closed, is never given", () => {
    const b = bodies()
    b.begin("done")
    b.begin("gone")
    b.advance(MIN_STALL * 2)
    b.end("done")
    b.destroy("gone")
    expect(b.take()).toBeUndefined()
  })

  it("a connection with no body being read is never given, however long it has been open", () => {
    const b = bodies()
    b.begin("between requests")
    b.end("between requests")
    b.advance(MIN_STALL * 2)
    expect(b.take()).toBeUndefined()
  })

  it("any sequence: never a body that began or moved less than the stall ago; one whenever a body stalled that long between two looks", () => {
    const names = ["a", "b", "c"] as const
    const step = fc.oneof(
      fc.record({ op: fc.constantFrom("begin" as const, "receive" as const, "end" as const, "destroy" as const), name: fc.constantFrom(...names) }),
      fc.record({ op: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 4_000 }) }),
      fc.record({ op: fc.constant("take" as const) })
    )
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const b = bodies()
        let now = 0
        // What really happened to each body still read: when it began or last received bytes, and since when a look
        // has seen it unchanged (the stall a look can know of).
        const model = new Map<string, { lastMove: number; unchangedSinceLook: number; moved: boolean }>()
        for (const s of steps) {
          if (s.op === "advance") {
            b.advance(s.ms)
            now += s.ms
          } else if (s.op === "take") {
            for (const m of model.values()) {
              if (m.moved) m.unchangedSinceLook = now
              m.moved = false
            }
            const due = [...model.values()].some((m) => now - m.unchangedSinceLook >= MIN_STALL)
            const taken = b.take()
            if (taken === undefined) expect(due).toBe(false)
            else {
              expect(now - model.get(taken)!.lastMove).toBeGreaterThanOrEqual(MIN_STALL)
              model.delete(taken)
            }
          } else if (s.op === "begin") {
            if (model.has(s.name)) continue
            b.begin(s.name)
            model.set(s.name, { lastMove: now, unchangedSinceLook: now, moved: false })
          } else if (model.has(s.name)) {
            if (s.op === "receive") {
              b.receive(s.name)
              model.set(s.name, { ...model.get(s.name)!, lastMove: now, moved: true })
            } else {
              b[s.op](s.name)
              model.delete(s.name)
            }
          }
        }
      }),
      { numRuns: 2_000 }
    )
  })
})
