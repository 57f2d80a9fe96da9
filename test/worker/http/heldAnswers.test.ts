import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { answerBytes, makeHeldAnswers, QUEUED_ANSWER_BYTES } from "../../../src/worker/http/heldAnswers.js"

/** A connection; `client/name` names one of `client`'s, any other name one of a single client's. */
type Conn = { readonly name: string }

const clientOfConn = (conn: Conn) => (conn.name.includes("/") ? conn.name.split("/")[0]! : "here")

const setUp = (perConnection: number, total: number, perClient = Number.POSITIVE_INFINITY) => {
  const watched: Array<string> = []
  const evicted: Array<string> = []
  /** Connections whose kernel takes no more of their answers. */
  const stalled = new Set<Conn>()
  const held = makeHeldAnswers<Conn>({
    perConnection,
    perClient,
    total,
    clientOf: clientOfConn,
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
    expect([held.heldBy(a), held.heldBy(b), held.heldBy({ name: "none" })]).toEqual([1_200, 150, 0])
    // Progress changes no count.
    held.progressed(a)
    held.progressed({ name: "none" })
    expect([held.heldBy(a), held.held()]).toEqual([1_200, 1_350])
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

  /** Who is closed for room when, under a total of `total`, each connection in turn takes, has taken, or stalls. */
  const closedAfter = (
    total: number,
    steps: ReadonlyArray<readonly [string, "take" | "release" | "progress" | "stall", number?]>,
    perClient = Number.POSITIVE_INFINITY
  ) => {
    const { held, evicted, stalled } = setUp(1_000, total, perClient)
    const byName = new Map<string, Conn>()
    for (const [name, step, bytes = 0] of steps) {
      const conn = byName.get(name) ?? { name }
      byName.set(name, conn)
      if (step === "take") held.take(conn, bytes)
      else if (step === "release") held.release(conn, bytes)
      else if (step === "progress") held.progressed(conn)
      else stalled.add(conn)
    }
    return evicted
  }

  it.each([
    [
      "a connection whose kernel takes no more (its client is not reading) goes first, even holding less",
      500,
      [["waiting behind its own slow request", "take", 300], ["not reading", "take", 100], ["not reading", "stall"], ["newcomer", "take", 150]],
      ["not reading"]
    ],
    [
      "among stalled ones, the one longest without an answer taken, even holding less: a slow reader makes progress (probe 48 F2)",
      500,
      [["slow reader", "take", 300], ["not reading", "take", 100], ["slow reader", "stall"], ["not reading", "stall"], ["slow reader", "release", 100], ["slow reader", "take", 100], ["newcomer", "take", 200]],
      ["not reading"]
    ],
    [
      "a piece of an answer taken is progress, the answer still held whole (probe 49 M1)",
      600,
      [["reader", "take", 300], ["idle", "take", 200], ["reader", "stall"], ["idle", "stall"], ["reader", "progress"], ["newcomer", "take", 200]],
      ["idle"]
    ],
    [
      "among stalled ones, the one longest without progress, even holding less than one that has had an answer taken since",
      500,
      [["d", "take", 100], ["e", "take", 300], ["e", "release", 100], ["d", "stall"], ["e", "stall"], ["f", "take", 300]],
      ["d"]
    ],
    [
      "among connections whose answers wait behind a request of their own, the one holding more, not the first to hold (review 52 M1)",
      500,
      [["reader", "take", 150], ["attacker", "take", 300], ["newcomer", "take", 100]],
      ["attacker"]
    ],
    [
      "among those holding as much, the one longest without progress: asking for more is none",
      250,
      [["a", "take", 50], ["b", "take", 100], ["a", "take", 50], ["c", "take", 100]],
      ["a"]
    ],
    [
      "among those holding as much, the one longest without progress: having an answer taken is progress",
      500,
      [["d", "take", 200], ["e", "take", 100], ["e", "take", 100], ["d", "release", 100], ["d", "take", 100], ["f", "take", 200]],
      ["e"]
    ],
    [
      "a connection that took all its answers, then asks again, has made progress since",
      500,
      [["a", "take", 200], ["a", "release", 200], ["b", "take", 200], ["a", "take", 200], ["c", "take", 200]],
      ["b"]
    ],
    [
      "a connection that has taken all its answers holds none: it is never closed for room, however long open or stalled",
      500,
      [["reader", "take", 400], ["reader", "release", 400], ["reader", "stall"], ["b", "take", 300], ["c", "take", 300]],
      ["b"]
    ],
    ["at the total exactly nothing is closed", 500, [["a", "take", 300], ["b", "take", 200]], []],
    ["one byte past it, a holder is", 500, [["a", "take", 300], ["b", "take", 200], ["c", "take", 1]], ["a"]]
  ] as const)("past the total: %s", (_, total, steps, closed) => {
    expect(closedAfter(total, steps)).toEqual(closed)
  })

  it.each([
    [
      "among stalled ones, a client's holding more than its share go first, though they have made progress since another's",
      [["reader/1", "take", 200], ["flood/1", "take", 150], ["flood/2", "take", 150], ["reader/1", "stall"], ["flood/1", "stall"], ["flood/2", "stall"], ["flood/1", "progress"], ["flood/2", "progress"], ["newcomer/1", "take", 100]],
      ["flood/1"]
    ],
    [
      "its connections go first only while it holds more than its share: what a closed one held no longer counts",
      [["reader/1", "take", 100], ["flood/1", "take", 100], ["flood/2", "take", 100], ["flood/3", "take", 100], ["flood/4", "take", 100], ["reader/1", "stall"], ["flood/1", "stall"], ["flood/2", "stall"], ["flood/3", "stall"], ["flood/4", "stall"], ["flood/1", "progress"], ["flood/2", "progress"], ["flood/3", "progress"], ["flood/4", "progress"], ["newcomer/1", "take", 250]],
      ["flood/1", "flood/2", "reader/1"]
    ],
    [
      "nor what a connection of it had taken",
      [["reader/1", "take", 200], ["flood/1", "take", 150], ["flood/2", "take", 150], ["flood/1", "release", 100], ["reader/1", "stall"], ["flood/2", "stall"], ["newcomer/1", "take", 150]],
      ["reader/1"]
    ],
    [
      "a client at its share exactly is not over it",
      [["reader/1", "take", 200], ["flood/1", "take", 250], ["reader/1", "stall"], ["flood/1", "stall"], ["flood/1", "progress"], ["newcomer/1", "take", 100]],
      ["reader/1"]
    ],
    [
      "a connection its kernel still empties goes after a stalled one, whatever its client holds",
      [["reader/1", "take", 200], ["flood/1", "take", 300], ["reader/1", "stall"], ["newcomer/1", "take", 100]],
      ["reader/1"]
    ],
    [
      "among connections whose answers wait behind a request of their own, a client's over its share go first, even holding less",
      [["reader/1", "take", 200], ["flood/1", "take", 150], ["flood/2", "take", 150], ["newcomer/1", "take", 50]],
      ["flood/1"]
    ]
  ] as const)("past the total, a client's share (250 of 500): %s", (_, steps, closed) => {
    expect(closedAfter(500, steps, 250)).toEqual(closed)
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

  it("an answer larger than the total, on a connection alone in holding any, is counted; that connection's next request is refused", () => {
    const { held, evicted } = setUp(1_000, 500)
    const [lone] = conns("lone")
    expect(held.admit(lone)).toBeNull()
    held.take(lone, 800)
    expect(held.held()).toBe(800)
    expect(evicted).toEqual([])
    expect(held.admit(lone)).toBe("total")
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
          perClient: 600,
          total: 1_000,
          clientOf: (socket) => (Number(socket.name) < 3 ? "a" : "b"),
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
