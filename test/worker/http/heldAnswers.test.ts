import { describe, expect, it } from "vitest"
import { makeHeldAnswers } from "../../../src/worker/http/heldAnswers.js"

describe("the large answers connections hold", () => {
  it("a connection may hold its share, all of them the total; what is taken is counted until released", () => {
    const held = makeHeldAnswers<object>(300, 500)
    const [a, b] = [{}, {}]
    expect(held.take(a, 200)).toBe(true)
    expect(held.take(a, 100)).toBe(true)
    expect(held.take(a, 1)).toBe(false)
    expect(held.take(b, 150)).toBe(true)
    expect(held.take(b, 100)).toBe(false)
    expect(held.held()).toBe(450)
    held.release(a, 200)
    expect(held.take(b, 100)).toBe(true)
    expect(held.held()).toBe(350)
  })

  it("a connection holding none may always take one, however large and whatever the others hold: a client that reads is never refused", () => {
    const held = makeHeldAnswers<object>(300, 500)
    const [greedy, reader] = [{}, {}]
    expect(held.take(greedy, 300)).toBe(true)
    expect(held.take({}, 300)).toBe(true)
    expect(held.take(reader, 1_000)).toBe(true)
    held.release(reader, 1_000)
    expect(held.take(reader, 1_000)).toBe(true)
    expect(held.take(reader, 1)).toBe(false)
  })
})
