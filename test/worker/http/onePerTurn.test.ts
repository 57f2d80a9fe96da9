import { type AddressInfo, connect, createServer, type Socket } from "node:net"
import { describe, expect, it } from "vitest"
import { OnePerTurn } from "../../../src/worker/http/onePerTurn.js"

/** A loop turned by hand: each `turn()` runs what was scheduled before it, as `setImmediate` does. */
const handLoop = () => {
  let scheduled: Array<() => void> = []
  return {
    schedule: (run: () => void) => void scheduled.push(run),
    turn: () => {
      const now = scheduled
      scheduled = []
      for (const run of now) run()
    },
    pending: () => scheduled.length
  }
}

describe("OnePerTurn (probe 51 M2: a flood of large bodies held every ping behind all their parses)", () => {
  it("runs one piece per turn, in the order they came; nothing at once", () => {
    const loop = handLoop()
    const queue = new OnePerTurn(loop.schedule)
    const ran: Array<string> = []
    for (const name of ["a", "b", "c"]) queue.add(() => ran.push(name))
    expect([ran, queue.size, loop.pending()]).toEqual([[], 3, 1])
    loop.turn()
    expect(ran).toEqual(["a"])
    // Work that came in between (the next turn's I/O) joins the end of the line.
    queue.add(() => ran.push("d"))
    loop.turn()
    loop.turn()
    expect(ran).toEqual(["a", "b", "c"])
    loop.turn()
    expect([ran, queue.size, loop.pending()]).toEqual([["a", "b", "c", "d"], 0, 0])
  })

  it("once empty, the next piece books a turn again", () => {
    const loop = handLoop()
    const queue = new OnePerTurn(loop.schedule)
    const ran: Array<number> = []
    queue.add(() => ran.push(1))
    loop.turn()
    expect(loop.pending()).toBe(0)
    queue.add(() => ran.push(2))
    expect(loop.pending()).toBe(1)
    loop.turn()
    expect(ran).toEqual([1, 2])
  })

  it("a piece that throws stops no other", () => {
    const loop = handLoop()
    const queue = new OnePerTurn(loop.schedule)
    const ran: Array<string> = []
    queue.add(() => {
      throw new Error("a bug")
    })
    queue.add(() => ran.push("after"))
    expect(() => loop.turn()).toThrow("a bug")
    loop.turn()
    expect(ran).toEqual(["after"])
  })

  it("small parses run as they come within an allowance of bytes per turn, one of any size first; past it they wait, and the next turn has it afresh (review 57 M1)", () => {
    const loop = handLoop()
    const queue = new OnePerTurn(loop.schedule, 100)
    expect([queue.takeNow(40), queue.takeNow(60), queue.takeNow(1)]).toEqual([true, true, false])
    // Nothing is charged for what had to wait, and nothing for no body.
    expect([queue.takeNow(0), loop.pending()]).toEqual([true, 1])
    loop.turn()
    expect([queue.takeNow(150), queue.takeNow(1)]).toEqual([true, false])
    loop.turn()
    expect([queue.takeNow(100), queue.takeNow(0), loop.pending()]).toEqual([true, true, 1])
    // A turn that runs a waiting piece starts the allowance afresh as well.
    const ran: Array<string> = []
    queue.add(() => ran.push("large"))
    loop.turn()
    expect([ran, queue.takeNow(100)]).toEqual([["large"], true])
  })

  it("with the loop's own setImmediate, a request read between two pieces is handled between them", async () => {
    // A loopback connection: what is written to it is read in the loop's next poll, as a small request would be.
    const { client, server, close } = await loopbackPair()
    const queue = new OnePerTurn()
    const ran: Array<string> = []
    server.on("data", () => ran.push("small request"))
    queue.add(() => {
      ran.push("large 1")
      client.write("x")
    })
    queue.add(() => ran.push("large 2"))
    await new Promise<void>((resolve) => queue.add(resolve))
    close()
    expect(ran).toEqual(["large 1", "small request", "large 2"])
  })
})

const loopbackPair = () =>
  new Promise<{ readonly client: Socket; readonly server: Socket; readonly close: () => void }>((resolve) => {
    const listener = createServer((server) => {
      resolve({
        client,
        server,
        close: () => {
          client.destroy()
          server.destroy()
          listener.close()
        }
      })
    })
    let client: Socket
    listener.listen(0, "127.0.0.1", () => {
      const address = listener.address() as AddressInfo
      client = connect(address.port, "127.0.0.1")
    })
  })
