import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { answerBytes, makeHeldAnswers, QUEUED_ANSWER_BYTES } from "../../../src/worker/http/heldAnswers.js"

type Conn = { readonly name: string }

const setUp = (perConnection: number, total: number) => {
  const watched: Array<string> = []
  const evicted: Array<string> = []
  const held = makeHeldAnswers<Conn>({
    perConnection,
    total,
    watch: (socket) => void watched.push(socket.name),
    evict: (socket) => void evicted.push(socket.name)
  })
  return { held, watched, evicted }
}

describe("the answers connections hold not yet taken", () => {
  it("an answer counts its body at two bytes a character and what Node keeps with it", () => {
    expect(answerBytes(0)).toBe(QUEUED_ANSWER_BYTES)
    expect(answerBytes(1000)).toBe(2000 + QUEUED_ANSWER_BYTES)
  })

  it("a connection may hold its share; what is taken is counted until released", () => {
    const { held } = setUp(300, 10_000)
    const [a, b] = [{ name: "a" }, { name: "b" }]
    expect(held.take(a, 200)).toBe(true)
    expect(held.take(a, 100)).toBe(true)
    expect(held.take(a, 1)).toBe(false)
    expect(held.take(b, 150)).toBe(true)
    expect(held.held()).toBe(450)
    held.release(a, 200)
    expect(held.take(a, 200)).toBe(true)
    expect(held.held()).toBe(450)
    // 100 + 200 held: its share, however reached.
    expect(held.take(a, 1)).toBe(false)
  })

  it("a connection holding less than its share takes one more, however large: a client that reads is never refused", () => {
    const { held } = setUp(300, 10_000)
    const reader = { name: "reader" }
    expect(held.take(reader, 1_000)).toBe(true)
    held.release(reader, 1_000)
    expect(held.take(reader, 299)).toBe(true)
    expect(held.take(reader, 1_000)).toBe(true)
    expect(held.take(reader, 1)).toBe(false)
  })

  it("past the total, the connection holding answers the longest is closed until the new one fits; it counts no more", () => {
    const { held, evicted } = setUp(300, 500)
    const [first, second, third, newcomer] = [{ name: "first" }, { name: "second" }, { name: "third" }, { name: "newcomer" }]
    expect(held.take(first, 200)).toBe(true)
    expect(held.take(second, 200)).toBe(true)
    expect(held.take(third, 100)).toBe(true)
    expect(held.take(newcomer, 250)).toBe(true)
    expect(evicted).toEqual(["first", "second"])
    expect(held.held()).toBe(350)
    // A late `finish` of an evicted connection's answer changes nothing.
    held.release(first, 200)
    expect(held.held()).toBe(350)
  })

  it("past the total, a connection that has held its answers longer than any other is the one refused", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [old, young] = [{ name: "old" }, { name: "young" }]
    expect(held.take(old, 300)).toBe(true)
    expect(held.take(young, 100)).toBe(true)
    expect(held.take(old, 200)).toBe(false)
    expect(evicted).toEqual([])
    // The younger one, holding some, makes room by closing the older.
    expect(held.take(young, 200)).toBe(true)
    expect(evicted).toEqual(["old"])
    expect(held.held()).toBe(300)
  })

  it("at the total exactly nothing is closed; one byte past it, the longest holder is", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [a, b, c] = [{ name: "a" }, { name: "b" }, { name: "c" }]
    expect(held.take(a, 200)).toBe(true)
    expect(held.take(b, 300)).toBe(true)
    expect(evicted).toEqual([])
    expect(held.take(c, 1)).toBe(true)
    expect(evicted).toEqual(["a"])
  })

  it("an answer larger than the total, on a connection alone in holding any, is taken", () => {
    const { held, evicted } = setUp(1_000, 500)
    const lone = { name: "lone" }
    expect(held.take(lone, 800)).toBe(true)
    expect(held.held()).toBe(800)
    expect(evicted).toEqual([])
  })

  it("a connection that has taken all its answers holds none: it is never the one closed for room, however long it has been open", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [reader, b, c] = [{ name: "reader" }, { name: "b" }, { name: "c" }]
    expect(held.take(reader, 200)).toBe(true)
    held.release(reader, 200)
    expect(held.take(b, 300)).toBe(true)
    expect(held.take(c, 300)).toBe(true)
    expect(evicted).toEqual(["b"])
  })

  it("holding answers the longest counts from the first of them not yet taken, not the latest", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [a, b, c] = [{ name: "a" }, { name: "b" }, { name: "c" }]
    expect(held.take(a, 100)).toBe(true)
    expect(held.take(b, 100)).toBe(true)
    expect(held.take(a, 100)).toBe(true)
    expect(held.take(c, 250)).toBe(true)
    expect(evicted).toEqual(["a"])
  })

  it("a connection that took all its answers is the newest when it holds again", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [a, b, c] = [{ name: "a" }, { name: "b" }, { name: "c" }]
    expect(held.take(a, 200)).toBe(true)
    expect(held.take(b, 200)).toBe(true)
    held.release(a, 200)
    expect(held.take(a, 200)).toBe(true)
    expect(held.take(c, 200)).toBe(true)
    expect(evicted).toEqual(["b"])
  })

  it("a connection's close settles all it held, answers queued with no event of their own included (review 51 M1); it is watched once", () => {
    const { held, watched } = setUp(1_000, 10_000)
    const a = { name: "a" }
    expect(held.take(a, 100)).toBe(true)
    held.release(a, 100)
    expect(held.take(a, 100)).toBe(true)
    expect(held.take(a, 100)).toBe(true)
    expect(watched).toEqual(["a"])
    held.gone(a)
    expect(held.held()).toBe(0)
    held.release(a, 100)
    held.gone(a)
    expect(held.held()).toBe(0)
  })

  it("whatever the takes, releases and closes: the count is what the open connections hold, within the total but for a lone answer, each within its share but for its last", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("take" as const), conn: fc.nat(5), bytes: fc.integer({ min: 1, max: 400 }) }),
      fc.record({ kind: fc.constant("release" as const), conn: fc.nat(5) }),
      fc.record({ kind: fc.constant("gone" as const), conn: fc.nat(5) })
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const conns = Array.from({ length: 6 }, (_, i) => ({ name: String(i) }))
        const open = new Map<Conn, Array<number>>()
        const held = makeHeldAnswers<Conn>({
          perConnection: 500,
          total: 1_000,
          watch: () => undefined,
          evict: (socket) => void open.delete(socket)
        })
        for (const o of ops) {
          const conn = conns[o.conn]!
          if (o.kind === "take") {
            const before = open.get(conn) ?? []
            if (held.take(conn, o.bytes)) open.set(conn, [...(open.get(conn) ?? []), o.bytes])
            else {
              expect(before.length).toBeGreaterThan(0)
              open.delete(conn)
              held.gone(conn)
            }
          } else if (o.kind === "release") {
            const mine = open.get(conn)
            if (mine !== undefined && mine.length > 0) held.release(conn, mine.shift()!)
          } else {
            open.delete(conn)
            held.gone(conn)
          }
          const sums = [...open.values()].map((answers) => answers.reduce((a, b) => a + b, 0))
          const sum = sums.reduce((a, b) => a + b, 0)
          expect(held.held()).toBe(sum)
          if (sums.filter((s) => s > 0).length > 1) expect(sum).toBeLessThanOrEqual(1_000)
          for (const answers of open.values()) expect(answers.slice(0, -1).reduce((a, b) => a + b, 0)).toBeLessThan(500)
        }
      })
    )
  })
})
