import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { makeIdleConnections } from "../../../src/worker/http/idleConnections.js"

const MIN_IDLE = 5_000

/** A tracker over named connections and a clock the test moves. */
const tracker = () => {
  let now = 0
  const sockets = new Map<string, { readonly name: string }>()
  const socket = (name: string) => {
    const existing = sockets.get(name)
    if (existing !== undefined) return existing
    const made = { name }
    sockets.set(name, made)
    return made
  }
  const idle = makeIdleConnections<{ readonly name: string }>(MIN_IDLE, () => now)
  return {
    advance: (ms: number) => void (now += ms),
    opened: (name: string) => idle.opened(socket(name)),
    requested: (name: string, request: object = {}) => idle.requested(socket(name), request),
    latest: (name: string) => idle.latest(socket(name)),
    answered: (name: string) => idle.answered(socket(name)),
    closed: (name: string) => idle.closed(socket(name)),
    take: () => idle.takeLongestIdle()?.name
  }
}

describe("a connection's latest request", () => {
  it("is the one begun last, answered or not; none before the first, nor for a connection not tracked", () => {
    const t = tracker()
    t.opened("a")
    expect(t.latest("a")).toBeUndefined()
    const [first, second] = [{ n: 1 }, { n: 2 }]
    t.requested("a", first)
    t.requested("a", second)
    t.answered("a")
    expect(t.latest("a")).toBe(second)
    t.closed("a")
    expect(t.latest("a")).toBeUndefined()
  })
})

describe("the connection that gives way at the cap", () => {
  it("the one idle the longest, once idle long enough; never one with a request in progress", () => {
    const t = tracker()
    t.opened("a")
    t.advance(1_000)
    t.opened("b")
    t.requested("a")
    t.advance(10_000)
    // a is busy; b has been idle since it connected, 10 s.
    expect(t.take()).toBe("b")
    expect(t.take()).toBeUndefined()
    t.answered("a")
    t.advance(MIN_IDLE - 1)
    expect(t.take()).toBeUndefined()
    t.advance(1)
    expect(t.take()).toBe("a")
  })

  it("a pooled client between two requests keeps its connection, however old the connection", () => {
    const t = tracker()
    t.opened("pooled")
    for (let i = 0; i < 100; i++) {
      t.requested("pooled")
      t.advance(100)
      t.answered("pooled")
      t.advance(50)
      expect(t.take()).toBeUndefined()
    }
  })

  it("pipelined requests: idle only when every one is answered; an extra answer changes nothing", () => {
    const t = tracker()
    t.opened("p")
    t.requested("p")
    t.requested("p")
    t.answered("p")
    t.advance(MIN_IDLE * 2)
    expect(t.take()).toBeUndefined()
    t.answered("p")
    t.answered("p")
    t.advance(MIN_IDLE)
    expect(t.take()).toBe("p")
  })

  it("a closed connection is never given", () => {
    const t = tracker()
    t.opened("gone")
    t.advance(MIN_IDLE * 2)
    t.closed("gone")
    expect(t.take()).toBeUndefined()
  })

  it("any sequence: the same answer as looking at every connection each time (the skipped scans hide nothing)", () => {
    const names = ["a", "b", "c", "d"] as const
    const step = fc.oneof(
      fc.record({ op: fc.constantFrom("opened" as const, "requested" as const, "answered" as const, "closed" as const), name: fc.constantFrom(...names) }),
      fc.record({ op: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 4_000 }) }),
      fc.record({ op: fc.constant("take" as const) })
    )
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const t = tracker()
        let now = 0
        const model = new Map<string, { pending: number; idleSince: number }>()
        for (const s of steps) {
          if (s.op === "advance") {
            t.advance(s.ms)
            now += s.ms
          } else if (s.op === "take") {
            let expected: string | undefined
            let since = Number.POSITIVE_INFINITY
            for (const [name, a] of model) if (a.pending === 0 && a.idleSince < since) [expected, since] = [name, a.idleSince]
            if (expected !== undefined && now - since < MIN_IDLE) expected = undefined
            if (expected !== undefined) model.delete(expected)
            expect(t.take()).toBe(expected)
          } else {
            t[s.op](s.name)
            const a = model.get(s.name)
            if (s.op === "opened") model.set(s.name, { pending: 0, idleSince: now })
            else if (s.op === "closed") model.delete(s.name)
            else if (a !== undefined && s.op === "requested") a.pending++
            else if (a !== undefined && a.pending > 0 && --a.pending === 0) a.idleSince = now
          }
        }
      }),
      { numRuns: 2_000 }
    )
  })
})
