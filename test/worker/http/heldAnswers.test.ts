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

const conns = <const N extends ReadonlyArray<string>>(...names: N): { readonly [K in keyof N]: Conn } =>
  names.map((name) => ({ name })) as unknown as { readonly [K in keyof N]: Conn }

describe("the answers connections hold not yet taken", () => {
  it("an answer counts its body at two bytes a character and what Node keeps with it", () => {
    expect(answerBytes(0)).toBe(QUEUED_ANSWER_BYTES)
    expect(answerBytes(1000)).toBe(2000 + QUEUED_ANSWER_BYTES)
  })

  it("a request on a connection holding less than its share runs, however large its answer; one holding its share is refused", () => {
    const { held } = setUp(300, 10_000)
    const [a, b] = conns("a", "b")
    expect(held.admit(a)).toBeNull()
    held.take(a, 200)
    expect(held.admit(a)).toBeNull()
    held.take(a, 1_000)
    expect(held.admit(a)).toBe("share")
    expect(held.admit(b)).toBeNull()
    held.take(b, 150)
    expect(held.held()).toBe(1_350)
    held.release(a, 1_000)
    expect(held.admit(a)).toBeNull()
    held.take(a, 100)
    // 200 + 100 held: its share, however reached.
    expect(held.admit(a)).toBe("share")
    expect(held.held()).toBe(450)
  })

  it("past the total, other connections are closed until the new answer fits, the one holding most first; they count no more", () => {
    const { held, evicted } = setUp(300, 500)
    const [first, second, third, newcomer] = conns("first", "second", "third", "newcomer")
    held.take(first, 150)
    held.take(second, 200)
    held.take(third, 100)
    held.take(newcomer, 100)
    expect(evicted).toEqual(["second"])
    expect(held.held()).toBe(350)
    // A late `finish` of an evicted connection's answer changes nothing.
    held.release(second, 200)
    expect(held.held()).toBe(350)
  })

  it("a connection whose answer makes it the first to go is counted over the total, and its next request refused; no other is closed for it", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [small, big] = conns("small", "big")
    held.take(small, 200)
    expect(held.admit(big)).toBeNull()
    held.take(big, 400)
    expect(evicted).toEqual([])
    expect(held.held()).toBe(600)
    expect(held.admit(big)).toBe("total")
    expect(held.admit(small)).toBeNull()
  })

  it("a connection whose kernel takes no more (its client is not reading) is closed first, even holding less", () => {
    const { held, evicted, stalled } = setUp(1_000, 500)
    const [waiting, notReading, newcomer] = conns("waiting behind its own slow request", "not reading", "newcomer")
    held.take(waiting, 300)
    held.take(notReading, 100)
    stalled.add(notReading)
    held.take(newcomer, 150)
    expect(evicted).toEqual(["not reading"])
  })

  it("among connections whose kernel takes no more, the one longest without an answer taken goes first, even holding less: a slow reader makes progress (probe 48 F2)", () => {
    const { held, evicted, stalled } = setUp(1_000, 500)
    const [slowReader, notReading, newcomer] = conns("slow reader", "not reading", "newcomer")
    held.take(slowReader, 300)
    held.take(notReading, 100)
    stalled.add(slowReader).add(notReading)
    held.release(slowReader, 100)
    held.take(slowReader, 100)
    held.take(newcomer, 200)
    expect(evicted).toEqual(["not reading"])
    // Among them, as long without progress: the one holding more.
    const second = setUp(1_000, 500)
    const [d, e, f] = conns("d", "e", "f")
    second.held.take(d, 100)
    second.held.take(e, 300)
    second.held.release(d, 100)
    second.held.release(e, 100)
    second.stalled.add(d).add(e)
    second.held.take(d, 200)
    second.held.take(f, 300)
    expect(second.evicted).toEqual(["e"])
  })

  it("among connections whose answers wait behind a request of their own, the one holding more goes first, not the first to hold (review 52 M1)", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [reader, attacker, newcomer] = conns("reader", "attacker", "newcomer")
    held.take(reader, 150)
    held.take(attacker, 300)
    held.take(newcomer, 100)
    expect(evicted).toEqual(["attacker"])
  })

  it("among connections holding as much, the one longest without progress goes first; asking for more is no progress, having an answer taken is", () => {
    const { held, evicted } = setUp(1_000, 250)
    const [a, b, c] = conns("a", "b", "c")
    held.take(a, 50)
    held.take(b, 100)
    held.take(a, 50)
    held.take(c, 100)
    expect(evicted).toEqual(["a"])
    const second = setUp(1_000, 500)
    const [d, e, f] = conns("d", "e", "f")
    second.held.take(d, 200)
    second.held.take(e, 100)
    second.held.take(e, 100)
    second.held.release(d, 100)
    second.held.take(d, 100)
    second.held.take(f, 200)
    expect(second.evicted).toEqual(["e"])
  })

  it("a connection that took all its answers, then asks again, has made progress since", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [a, b, c] = conns("a", "b", "c")
    held.take(a, 200)
    held.release(a, 200)
    held.take(b, 200)
    held.take(a, 200)
    held.take(c, 200)
    expect(evicted).toEqual(["b"])
  })

  it("a connection that would be the first to close for the total has its next request refused; one holding none is let in", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [big, small, fresh] = conns("big", "small", "fresh")
    held.take(big, 300)
    held.take(small, 200)
    expect(held.admit(big)).toBe("total")
    expect(held.admit(small)).toBeNull()
    expect(held.admit(fresh)).toBeNull()
    expect(evicted).toEqual([])
  })

  it("at the total exactly nothing is closed; one byte past it, a holder is", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [a, b, c] = conns("a", "b", "c")
    held.take(a, 300)
    held.take(b, 200)
    expect(evicted).toEqual([])
    held.take(c, 1)
    expect(evicted).toEqual(["a"])
  })

  it("an answer larger than the total, on a connection alone in holding any, is counted; that connection's next request is refused", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [lone] = conns("lone")
    expect(held.admit(lone)).toBeNull()
    held.take(lone, 800)
    expect(held.held()).toBe(800)
    expect(evicted).toEqual([])
    expect(held.admit(lone)).toBe("total")
  })

  it("a connection that has taken all its answers holds none: it is never closed for room, however long it has been open or stalled", () => {
    const { held, evicted, stalled } = setUp(1_000, 500)
    const [reader, b, c] = conns("reader", "b", "c")
    held.take(reader, 400)
    held.release(reader, 400)
    stalled.add(reader)
    held.take(b, 300)
    held.take(c, 300)
    expect(evicted).toEqual(["b"])
    expect(held.admit(reader)).toBeNull()
  })

  it("a connection's close settles all it held, answers queued with no event of their own included (review 51 M1); it is watched once", () => {
    const { held, watched } = setUp(1_000, 10_000)
    const [a] = conns("a")
    held.take(a, 100)
    held.release(a, 100)
    held.take(a, 100)
    held.take(a, 100)
    expect(watched).toEqual(["a"])
    held.gone(a)
    expect(held.held()).toBe(0)
    held.release(a, 100)
    held.gone(a)
    expect(held.held()).toBe(0)
  })

  it("whatever the requests, answers, releases and closes: the count is what open connections hold; each is admitted only under its share; over the total, the connection that took last is the next refused", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("request" as const), conn: fc.nat(5), bytes: fc.integer({ min: 1, max: 400 }) }),
      fc.record({ kind: fc.constant("release" as const), conn: fc.nat(5) }),
      fc.record({ kind: fc.constant("gone" as const), conn: fc.nat(5) })
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const all: ReadonlyArray<Conn> = conns("0", "1", "2", "3", "4", "5")
        const open = new Map<Conn, Array<number>>()
        const held = makeHeldAnswers<Conn>({
          perConnection: 500,
          total: 1_000,
          stalled: (socket) => socket.name === "3",
          watch: () => undefined,
          evict: (socket) => void open.delete(socket)
        })
        const sumOf = (answers: ReadonlyArray<number>) => answers.reduce((a, b) => a + b, 0)
        for (const o of ops) {
          const conn = all[o.conn]!
          if (o.kind === "request") {
            const mine = sumOf(open.get(conn) ?? [])
            if (held.admit(conn) === null) {
              expect(mine).toBeLessThan(500)
              held.take(conn, o.bytes)
              open.set(conn, [...(open.get(conn) ?? []), o.bytes])
              if (held.held() > 1_000) expect(held.admit(conn)).not.toBeNull()
            } else {
              expect(mine).toBeGreaterThan(0)
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
          expect(held.held()).toBe(sumOf([...open.values()].map(sumOf)))
        }
      })
    )
  })
})
