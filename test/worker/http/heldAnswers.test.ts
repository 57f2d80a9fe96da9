import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { answerBytes, makeHeldAnswers, QUEUED_ANSWER_BYTES } from "../../../src/worker/http/heldAnswers.js"

type Conn = { readonly name: string }

const setUp = (perConnection: number, total: number) => {
  const watched: Array<string> = []
  const evicted: Array<string> = []
  /** Connections whose kernel takes no more of their answers. */
  const stalled = new Set<Conn>()
  const held = makeHeldAnswers<Conn>({
    perConnection,
    total,
    stalled: (socket) => stalled.has(socket),
    watch: (socket) => void watched.push(socket.name),
    evict: (socket) => void evicted.push(socket.name)
  })
  return { held, watched, evicted, stalled }
}

describe("the answers connections hold not yet taken", () => {
  it("an answer counts its body at two bytes a character and what Node keeps with it", () => {
    expect(answerBytes(0)).toBe(QUEUED_ANSWER_BYTES)
    expect(answerBytes(1000)).toBe(2000 + QUEUED_ANSWER_BYTES)
  })

  it("a connection may hold its share; what is taken is counted until released", () => {
    const { held } = setUp(300, 10_000)
    const [a, b] = [{ name: "a" }, { name: "b" }]
    expect(held.take(a, 200)).toBeNull()
    expect(held.take(a, 100)).toBeNull()
    expect(held.take(a, 1)).toBe("share")
    expect(held.take(b, 150)).toBeNull()
    expect(held.held()).toBe(450)
    held.release(a, 200)
    expect(held.take(a, 200)).toBeNull()
    expect(held.held()).toBe(450)
    // 100 + 200 held: its share, however reached.
    expect(held.take(a, 1)).toBe("share")
  })

  it("a connection holding less than its share takes one more, however large: a client that reads is never refused", () => {
    const { held } = setUp(300, 10_000)
    const reader = { name: "reader" }
    expect(held.take(reader, 1_000)).toBeNull()
    held.release(reader, 1_000)
    expect(held.take(reader, 299)).toBeNull()
    expect(held.take(reader, 1_000)).toBeNull()
    expect(held.take(reader, 1)).toBe("share")
  })

  it("past the total, connections are closed until the new answer fits, the one holding most first; they count no more", () => {
    const { held, evicted } = setUp(300, 500)
    const [first, second, third, newcomer] = [{ name: "first" }, { name: "second" }, { name: "third" }, { name: "newcomer" }]
    expect(held.take(first, 150)).toBeNull()
    expect(held.take(second, 200)).toBeNull()
    expect(held.take(third, 100)).toBeNull()
    expect(held.take(newcomer, 300)).toBeNull()
    expect(evicted).toEqual(["second", "first"])
    expect(held.held()).toBe(400)
    // A late `finish` of an evicted connection's answer changes nothing.
    held.release(first, 150)
    expect(held.held()).toBe(400)
  })

  it("a connection whose kernel takes no more (its client is not reading) is closed first, even holding less", () => {
    const { held, evicted, stalled } = setUp(1_000, 500)
    const [waiting, notReading, newcomer] = [{ name: "waiting behind its own slow request" }, { name: "not reading" }, { name: "newcomer" }]
    expect(held.take(waiting, 300)).toBeNull()
    expect(held.take(notReading, 100)).toBeNull()
    stalled.add(notReading)
    expect(held.take(newcomer, 150)).toBeNull()
    expect(evicted).toEqual(["not reading"])
  })

  it("among connections holding as much, the one that has gone longest without an answer taken is closed: a reader that pipelines makes progress (review 52 M1)", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [reader, attacker, newcomer] = [{ name: "reader" }, { name: "attacker" }, { name: "newcomer" }]
    expect(held.take(reader, 100)).toBeNull()
    expect(held.take(reader, 100)).toBeNull()
    expect(held.take(attacker, 100)).toBeNull()
    expect(held.take(attacker, 100)).toBeNull()
    // The reader takes one answer and asks for another: as much held as the attacker, the older of the two, but it moves.
    held.release(reader, 100)
    expect(held.take(reader, 100)).toBeNull()
    expect(held.take(newcomer, 200)).toBeNull()
    expect(evicted).toEqual(["attacker"])
  })

  it("a connection that holds more than any other, or as much with the least progress, is itself refused for the total", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [big, small] = [{ name: "big" }, { name: "small" }]
    expect(held.take(big, 300)).toBeNull()
    expect(held.take(small, 100)).toBeNull()
    expect(held.take(big, 200)).toBe("total")
    expect(evicted).toEqual([])
    // The smaller one, asking, makes room by closing the bigger.
    expect(held.take(small, 200)).toBeNull()
    expect(evicted).toEqual(["big"])
    expect(held.held()).toBe(300)
  })

  it("at the total exactly nothing is closed; one byte past it, a holder is", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [a, b, c] = [{ name: "a" }, { name: "b" }, { name: "c" }]
    expect(held.take(a, 300)).toBeNull()
    expect(held.take(b, 200)).toBeNull()
    expect(evicted).toEqual([])
    expect(held.take(c, 1)).toBeNull()
    expect(evicted).toEqual(["a"])
  })

  it("an answer larger than the total, on a connection alone in holding any, is taken", () => {
    const { held, evicted } = setUp(1_000, 500)
    const lone = { name: "lone" }
    expect(held.take(lone, 800)).toBeNull()
    expect(held.held()).toBe(800)
    expect(evicted).toEqual([])
  })

  it("a connection that has taken all its answers holds none: it is never the one closed for room, however long it has been open", () => {
    const { held, evicted, stalled } = setUp(1_000, 500)
    const [reader, b, c] = [{ name: "reader" }, { name: "b" }, { name: "c" }]
    expect(held.take(reader, 400)).toBeNull()
    held.release(reader, 400)
    // Even with bytes of an answer taken still in its socket.
    stalled.add(reader)
    expect(held.take(b, 300)).toBeNull()
    expect(held.take(c, 300)).toBeNull()
    expect(evicted).toEqual(["b"])
  })

  it("among equals, the first to hold is closed first; one that took all its answers and holds again is the newest", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [a, b, c] = [{ name: "a" }, { name: "b" }, { name: "c" }]
    expect(held.take(a, 200)).toBeNull()
    expect(held.take(b, 200)).toBeNull()
    held.release(a, 200)
    expect(held.take(a, 200)).toBeNull()
    expect(held.take(c, 200)).toBeNull()
    expect(evicted).toEqual(["b"])
  })

  it("a connection's close settles all it held, answers queued with no event of their own included (review 51 M1); it is watched once", () => {
    const { held, watched } = setUp(1_000, 10_000)
    const a = { name: "a" }
    expect(held.take(a, 100)).toBeNull()
    held.release(a, 100)
    expect(held.take(a, 100)).toBeNull()
    expect(held.take(a, 100)).toBeNull()
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
          stalled: (socket) => socket.name === "3",
          watch: () => undefined,
          evict: (socket) => void open.delete(socket)
        })
        for (const o of ops) {
          const conn = conns[o.conn]!
          if (o.kind === "take") {
            const before = open.get(conn) ?? []
            if (held.take(conn, o.bytes) === null) open.set(conn, [...(open.get(conn) ?? []), o.bytes])
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
