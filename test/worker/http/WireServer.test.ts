import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { type AddressInfo, connect, createServer as createNetServer, type Server, type Socket } from "node:net"
import { Agent, get as httpGet } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect as tlsConnect, type TLSSocket } from "node:tls"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Deferred, type Duration, Effect, Either, Fiber, LogLevel, Option, Schedule, TestClock, TestServices } from "effect"
import { makeBodyBudget } from "../../../src/worker/http/bodyBudget.js"
import { LINGER_BYTES, LINGER_MS } from "../../../src/shared/lingeringClose.js"
import { InvalidField } from "../../../src/worker/errors.js"
import { text } from "../../../src/worker/http/errorResponse.js"
import { OnePerTurn } from "../../../src/worker/http/onePerTurn.js"
import { type RouteTable, serve, type WireLimits, type WireListener, type WireRoute } from "../../../src/worker/http/WireServer.js"
import { quietLogs } from "../../support/layers.js"
import { capturedLogs } from "../../support/logs.js"
import { sendWhileReading } from "../../support/stillSending.js"

/**
 * `serve`, its log lines (listening, refusals) kept out of the test output: what it logs is not what these tests check.
 * At the test's end the listener is closed on the real clock first: a test that failed with a connection still open
 * then reports its assertion, where the listener's grace on the test's clock, which nothing moves any more, would
 * hold the scope until the test's timeout.
 */
const serveQuietly = (options: Parameters<typeof serve>[0]) =>
  serve(options).pipe(
    Effect.tap((listener) => Effect.addFinalizer(() => TestServices.provideLive(listener.close("2 seconds")))),
    Effect.provide(quietLogs)
  )

/** A route whose answers (64 KiB each) fill a socket's buffers after a few dozen unread ones. */
/** Until the listener's count of open connections satisfies `holds` (the server sees an accept or a close a little later). */
const untilConnections = (listener: WireListener, holds: (open: number) => boolean) =>
  Effect.gen(function* () {
    while (!holds(yield* listener.connections)) yield* Effect.promise(() => new Promise((done) => setImmediate(done)))
  })

/** A TCP connection the listener accepted, then closed by its client (`reset`: with a reset rather than a FIN), and gone from the count. */
const acceptedThenGone = (listener: WireListener, reset: boolean) =>
  Effect.gen(function* () {
    const gone = connect(listener.port, "127.0.0.1")
    gone.on("error", () => undefined)
    yield* Effect.promise(() => new Promise<void>((done) => gone.on("connect", () => done())))
    yield* untilConnections(listener, (open) => open >= 1)
    if (reset) gone.resetAndDestroy()
    else gone.destroy()
    yield* untilConnections(listener, (open) => open === 0)
  })

/**
 * Where the tests that count every answer of their listener (`onAnswer`) listen, and their clients connect: not
 * 127.0.0.1. A port the kernel hands out (port 0) may be one a client of another process still aims at (a port its own
 * listener had a moment before: HealthProber.test.ts probes one on purpose), and that client's request was then counted
 * as the test's (an `other` 404 beside probe 49 L1's answer, once, in a full run on a busy machine). No other client
 * aims at this address (on Linux all of 127/8 is the loopback, as for 127.0.0.2 below).
 */
const COUNTED_HOST = "127.0.49.1"

/** Limits under which connections may hold any answers not taken: for tests of another bound. */
const unboundedAnswers = { maxHeldAnswerBytesPerConnection: Number.POSITIVE_INFINITY, maxHeldAnswerBytes: Number.POSITIVE_INFINITY }

/** Requests run by `/count`. */
let counted = 0
/** Answers built by `/costly`. */
let costlyBuilt = 0
const routes: RouteTable = new Map<string, WireRoute>([
  ["/big", { method: "GET", body: "none", handle: () => Either.right(text(200, "x".repeat(64 * 1024))) }],
  ["/small", { method: "GET", body: "none", handle: () => Either.right(text(200, "s".repeat(16 * 1024))) }],
  ["/huge", { method: "GET", body: "none", handle: () => Either.right(text(200, "h".repeat(1024 * 1024))) }],
  ["/count", { method: "GET", body: "none", handle: () => Either.right(text(200, String(++counted))) }],
  // Pairs across the 64 KiB pieces a large answer is written in: "a" first, so that a piece would end inside one.
  ["/pairs", { method: "GET", body: "none", handle: () => Either.right(text(200, `a${"😀".repeat(100_000)}`)) }],
  ["/giant", { method: "GET", body: "none", handle: () => Either.right(text(200, "g".repeat(16 * 1024 * 1024))) }],
  ["/echo", { method: "POST", body: "json", handle: (request) => Either.right(text(200, JSON.stringify(request.body))) }],
  ["/costly", { method: "GET", body: "none", costly: true, handle: () => Either.right(text(200, String(++costlyBuilt).padEnd(100 * 1024))) }]
])

/** A listener whose guard refuses every request with an `X-Refuse` header (422, naming it). */
const serveGuarded = serveQuietly({
  name: "guarded",
  host: "127.0.0.1",
  port: 0,
  routes,
  guard: (headers) => (headers["x-refuse"] === undefined ? null : new InvalidField({ field: "x-refuse", message: "x-refuse: refused" }))
})

/** Send `head` on a raw socket, then `body` once the server says `100 Continue`; everything the server wrote, once it closes. */
const exchange = (port: number, head: string, body: string, host = "127.0.0.1") =>
  Effect.async<string>((resume) => {
    const socket = connect(port, host)
    let received = ""
    socket.on("error", () => undefined)
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1")
      if (received.startsWith("HTTP/1.1 100") && received.includes("\r\n\r\n") && body !== "") {
        socket.write(body)
        body = ""
      }
    })
    socket.on("close", () => resume(Effect.succeed(received)))
    socket.write(head)
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the server did not close the connection") }))

/**
 * A client that sends whole requests one write at a time and never reads an answer: Node stops reading it at a
 * request boundary, where no header or request timer runs. Succeeds once the server closes the connection;
 * interrupted, it closes the connection itself.
 */
const pipelineWithoutReading = (port: number, host = "127.0.0.1") =>
  Effect.async<void>((resume) => {
    const socket = connect(port, host)
    socket.pause()
    socket.on("error", () => undefined)
    // One request per write, each in its own turn of the event loop, so that each server read ends at a boundary.
    const tick = () => {
      if (socket.destroyed) return
      if (socket.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")) setImmediate(tick)
      else socket.once("drain", tick)
    }
    socket.on("connect", tick)
    socket.on("close", () => resume(Effect.void))
    return Effect.sync(() => socket.destroy())
  })

/**
 * A client that may stay half-open (the server's FIN does not end its side), closed with the test's scope: what it
 * received so far, and when it saw the server's FIN and the close.
 */
const halfOpenClient = (port: number) =>
  Effect.gen(function* () {
    const [ended, closed] = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
    const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true })
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
    let received = ""
    socket.on("error", () => undefined)
    socket.on("data", (chunk) => void (received += chunk.toString("latin1")))
    socket.on("end", () => Deferred.unsafeDone(ended, Effect.void))
    socket.on("close", () => Deferred.unsafeDone(closed, Effect.void))
    return { socket, received: () => received, ended, closed }
  })

/** Wait for a real event on the real clock (the test's own may be TestClock), failing with `what` after 5 s. */
const live = <A, E>(effect: Effect.Effect<A, E>, what: string) =>
  TestServices.provideLive(Effect.timeoutFail(effect, { duration: "5 seconds", onTimeout: () => new Error(what) }))

describe("WireServer against a real socket", () => {
  /**
   * Whether a server with `stallTimeoutMs` closed a client that pipelines and never reads within `within`; the large
   * answers it may hold are not bounded here, so that the stall limit alone acts.
   */
  const closedWithin = (stallTimeoutMs: number, within: Duration.DurationInput) =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { stallTimeoutMs, ...unboundedAnswers } })
      return Option.isSome(yield* Effect.timeoutOption(pipelineWithoutReading(listener.port), within))
    }).pipe(Effect.scoped)

  it.live("a client that pipelines and never reads its answers is cut off once the connection stalls", () =>
    Effect.map(closedWithin(300, "5 seconds"), (closed) => assert.isTrue(closed, "closed by the server within 5 s"))
  )

  it.live("without the stall limit the same client holds its connection", () =>
    Effect.map(closedWithin(0, "2 seconds"), (closed) => assert.isFalse(closed, "still open after 2 s"))
  )

  it.live("a malformed request pipelined behind valid ones never takes their answers: they are answered in order, then the connection closes, with no 400", () =>
    Effect.gen(function* () {
      const [started, release] = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const slowRoutes: RouteTable = new Map<string, WireRoute>([
        ...routes,
        ["/slow", { method: "GET", body: "none", handle: () => Deferred.succeed(started, undefined).pipe(Effect.zipRight(Deferred.await(release)), Effect.as(text(200, "slow answer"))) }]
      ])
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes: slowRoutes })
      // Unanswered when the bad request is parsed (in the same read, before the handler's fiber runs): the answer comes
      // later, and is the only one.
      const pending = yield* Effect.fork(exchange(listener.port, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n", ""))
      yield* Deferred.await(started)
      yield* Deferred.succeed(release, undefined)
      const slow = yield* Fiber.join(pending)
      assert.match(slow, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nslow answer$/)
      // Answered at once, but still being written (64 KiB each) when the bad request is parsed: both arrive whole.
      const big = yield* exchange(listener.port, "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n", "")
      assert.deepStrictEqual(big.match(/HTTP\/1\.1 \d+/g), ["HTTP/1.1 200", "HTTP/1.1 200"])
      assert.isTrue(big.endsWith("x".repeat(64 * 1024)), "the second answer whole")
      // A whole request with a body, then garbage in the same read: the request is answered, then the connection closes.
      const posted = yield* exchange(listener.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{"a":1}GARBAGE\r\n\r\n', "")
      assert.match(posted, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"a":1\}$/)
      const chunkedThenGarbage = 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{"a":1}\r\n0\r\n\r\nGARBAGE\r\n\r\n'
      assert.match(yield* exchange(listener.port, chunkedThenGarbage, ""), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\{"a":1\}$/)
      // Alone, a bad request still gets its 400, a bad body included, each saying in JSON what was wrong.
      const garbage = yield* exchange(listener.port, "GARBAGE\r\n\r\n", "")
      assert.match(garbage, /^HTTP\/1\.1 400 Bad Request\r\n/)
      assert.match(garbage, /\r\ncontent-type: application\/json; charset=utf-8\r\n[\s\S]*\r\n\r\n\{"error":"malformed request: Invalid method encountered"\}$/)
      const badChunk = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n"
      const badChunkAnswer = yield* exchange(listener.port, badChunk, "")
      assert.match(badChunkAnswer, /^HTTP\/1\.1 400 Bad Request\r\n/)
      assert.match(badChunkAnswer, /\r\n\r\n\{"error":"malformed request: [^"]+"\}$/)
    }).pipe(Effect.scoped)
  )

  it.live("a client still sending when the server closes gets every answer before the close whole, and a FIN, not a reset", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { maxBodyBytes: 1024 } })
      const big = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"
      // Pipelined requests, a malformed one, then more bytes: the answers, then the close.
      const afterGarbage = yield* sendWhileReading(listener.port, `${big.repeat(4)}GARBAGE\r\n\r\n`, 512 * 1024)
      assert.deepStrictEqual(afterGarbage.received.match(/HTTP\/1\.1 \d+/g), Array(4).fill("HTTP/1.1 200"))
      assert.isTrue(afterGarbage.received.endsWith("x".repeat(64 * 1024)), "the last answer whole")
      assert.isFalse(afterGarbage.reset, "closed by a FIN after a malformed request")
      // A body declared over the limit, still coming: its 413 arrives.
      const tooLarge = yield* sendWhileReading(listener.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n\r\n", 512 * 1024)
      assert.match(tooLarge.received, /^HTTP\/1\.1 413 /)
      assert.isFalse(tooLarge.reset, "closed by a FIN after a 413")
      // The client's own `Connection: close`, with bytes after it: the answer whole.
      const closeAsked = yield* sendWhileReading(listener.port, `${big}${big.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")}`, 512 * 1024)
      assert.deepStrictEqual(closeAsked.received.match(/HTTP\/1\.1 \d+/g), ["HTTP/1.1 200", "HTTP/1.1 200"])
      assert.isTrue(closeAsked.received.endsWith("x".repeat(64 * 1024)), "the answer before the close whole")
      assert.isFalse(closeAsked.reset, "closed by a FIN after Connection: close")
      // A header too large, still coming: its 431 arrives.
      const headerTooLarge = yield* sendWhileReading(listener.port, `GET /big HTTP/1.1\r\nHost: x\r\nX-Long: ${"y".repeat(20_000)}`, 512 * 1024)
      assert.match(headerTooLarge.received, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n[\s\S]*\r\n\r\n\{"error":"request headers too large"\}$/)
      assert.isFalse(headerTooLarge.reset, "closed by a FIN after a 431")
    }).pipe(Effect.scoped)
  )

  it.effect("a lingering connection whose client neither closes nor sends is closed LINGER_MS after the server's FIN", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes })
      // Its side stays open after the server's FIN, as a client's that has not read it yet.
      const { closed, ended, received, socket } = yield* halfOpenClient(listener.port)
      socket.write("GARBAGE\r\n\r\n")
      yield* live(Deferred.await(ended), "no FIN")
      assert.match(received(), /^HTTP\/1\.1 400 Bad Request\r\n/)
      yield* TestClock.adjust(LINGER_MS - 1)
      // With its read side ended, the client learns of a reset from a later write (a byte sent to a closed connection
      // is answered by one): a few writes, each after the last went out, are dropped while the connection lingers.
      for (let turn = 0; turn < 5; turn++) {
        yield* Effect.async<void>((resume) => void socket.write("x", () => setImmediate(() => resume(Effect.void))))
      }
      assert.isFalse(yield* Deferred.isDone(closed), "still open 1 ms before the bound")
      yield* TestClock.adjust(1)
      // It writes until one fails.
      const poke = () => void (socket.destroyed || socket.write("x", () => setImmediate(poke)))
      poke()
      yield* live(Deferred.await(closed), "still open after the bound")
    }).pipe(Effect.scoped)
  )

  /**
   * Whether a lingering connection (the server's FIN sent after `request`'s answer, the client's side left open and
   * silent) is still open after `wait` of real time, in which Node's own timer (`limits`) has come due: only LINGER_MS,
   * on the test's clock, which never moves here, may close it.
   */
  const lingersThrough = (limits: NonNullable<Parameters<typeof serve>[0]["limits"]>, request: string, wait: Duration.DurationInput) =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits })
      const { closed, ended, received, socket } = yield* halfOpenClient(listener.port)
      socket.write(request)
      yield* live(Deferred.await(ended), "no FIN")
      yield* TestServices.provideLive(Effect.sleep(wait))
      // A write to a connection the server has closed is answered by a reset, which closes the client's side.
      for (let turn = 0; turn < 5; turn++) {
        yield* Effect.async<void>((resume) => void socket.write("x", () => setImmediate(() => resume(Effect.void))))
      }
      return { open: !(yield* Deferred.isDone(closed)), received: received() }
    }).pipe(Effect.scoped)

  it.effect("a lingering connection outlives the stall limit, which has nothing to answer there: only LINGER_MS closes it", () =>
    Effect.gen(function* () {
      const { open, received } = yield* lingersThrough({ stallTimeoutMs: 100 }, "GARBAGE\r\n\r\n", "600 millis")
      assert.match(received, /^HTTP\/1\.1 400 Bad Request\r\n/)
      assert.isTrue(open, "still lingering 600 ms after the FIN, past a 100 ms stall limit")
    })
  )

  it.effect("a lingering connection outlives the request timeout of the body it was refused: only LINGER_MS closes it", () =>
    Effect.gen(function* () {
      // Refused at its declared length: the body never comes, so the request never completes, and Node's check (every
      // second) finds it past its time.
      const tooLarge = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
      const { open, received } = yield* lingersThrough({ maxBodyBytes: 1024, headersTimeoutMs: 200, requestTimeoutMs: 300 }, tooLarge, "1800 millis")
      assert.match(received, /^HTTP\/1\.1 413 /)
      assert.isTrue(open, "still lingering 1.8 s after the FIN, past a 0.3 s request timeout checked every second")
    })
  )

  it.effect("a client that half-closes after its requests gets every answer, then the connection closes without waiting for the bound", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes })
      const { closed, received, socket } = yield* halfOpenClient(listener.port)
      // Its FIN comes before the answers are written, so before the connection lingers; the clock never moves.
      socket.end(`${"GET /big HTTP/1.1\r\nHost: x\r\n\r\n".repeat(4)}GARBAGE\r\n\r\n`)
      yield* live(Deferred.await(closed), "still open")
      const answers = received()
      assert.deepStrictEqual(answers.match(/HTTP\/1\.1 \d+/g), Array(4).fill("HTTP/1.1 200"))
      assert.isTrue(answers.endsWith("x".repeat(64 * 1024)), "the last answer whole")
    }).pipe(Effect.scoped)
  )

  it.effect("a client that keeps sending after its answer is cut off past LINGER_BYTES, before the time bound", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes })
      const closed = yield* Deferred.make<number>()
      const socket = connect(listener.port, "127.0.0.1")
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      let sent = 0
      socket.on("error", () => undefined)
      socket.on("close", () => Deferred.unsafeDone(closed, Effect.succeed(sent)))
      // Sends without end until the connection closes; the clock never moves, so only the byte bound can close it.
      const more = () => {
        while (!socket.destroyed) {
          sent += 64 * 1024
          if (!socket.write("z".repeat(64 * 1024))) return void socket.once("drain", more)
        }
      }
      socket.write("GARBAGE\r\n\r\n", more)
      const total = yield* live(Deferred.await(closed), "never cut off")
      // Past the bound by at most what the two kernels' buffers hold.
      assert.isAbove(total, LINGER_BYTES)
      assert.isBelow(total, LINGER_BYTES + 16 * 1024 * 1024)
    }).pipe(Effect.scoped)
  )

  it.live("a handler that throws (a bug), answering at once or with a body, gets a 500 and is logged; the listener serves the next request (review 41 L1)", () =>
    Effect.gen(function* () {
      const logs = capturedLogs(LogLevel.Error)
      const throwing: RouteTable = new Map<string, WireRoute>([
        ...routes,
        [
          "/throws",
          {
            method: "POST",
            body: "json",
            handle: () => {
              throw new TypeError("a bug in a route")
            }
          }
        ]
      ])
      const listener = yield* serve({ name: "test", host: "127.0.0.1", port: 0, routes: throwing }).pipe(
        Effect.tap((served) => Effect.addFinalizer(() => TestServices.provideLive(served.close("2 seconds")))),
        Effect.provide(logs.layer)
      )
      const post = (path: string, body: string) =>
        exchange(listener.port, `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`, "")
      for (const body of ["", '{"session_id":"s"}']) {
        const answered = yield* post("/throws", body)
        assert.match(answered, /^HTTP\/1\.1 500 /)
        assert.match(answered, /\r\n\r\n\{"error":"internal error"\}$/)
      }
      assert.match(yield* post("/echo", "[1]"), /\r\n\r\n\[1\]$/)
      assert.deepStrictEqual(
        logs.lines.map((line) => [line.level, line.message[0]]),
        [
          ["ERROR", "test: POST /throws failed"],
          ["ERROR", "test: POST /throws failed"]
        ]
      )
    }).pipe(Effect.scoped)
  )

  it.live("a body that stops coming gets its 408 from the stall limit too, when that passes first; a stalled reader is still cut off without a word", () =>
    Effect.gen(function* () {
      const counted: Array<[string, number]> = []
      const listener = yield* serveQuietly({ name: "test", host: COUNTED_HOST, port: 0, routes, limits: { stallTimeoutMs: 300 }, onAnswer: (path, status) => void counted.push([path, status]) })
      const silent = yield* exchange(listener.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", "", COUNTED_HOST)
      assert.match(silent, /^HTTP\/1\.1 408 Request Timeout\r\n/)
      assert.match(silent, /\r\nconnection: close\r\n/i)
      assert.match(silent, /\r\n\r\n\{"error":"the request did not arrive in time"\}$/)
      // No body being read: a client that pipelines and never reads its answers is still cut off.
      assert.isTrue(Option.isSome(yield* Effect.timeoutOption(pipelineWithoutReading(listener.port, COUNTED_HOST), "5 seconds")), "closed by the server")
      assert.deepStrictEqual(counted.slice(0, 1), [["/echo", 408]])
    }).pipe(Effect.scoped)
  )

  it.live("a client that pipelines requests with large answers and reads none is closed once it holds its share of them, with no stall limit to do it (probe 46 H1); one that reads gets its large answer", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { stallTimeoutMs: 0, maxHeldAnswerBytesPerConnection: 400_000 } })
      const greedy = connect(listener.port, "127.0.0.1")
      yield* Effect.addFinalizer(() => Effect.sync(() => greedy.destroy()))
      greedy.pause()
      greedy.on("error", () => undefined)
      // Twenty 64 KiB answers asked for in one write: the fourth would pass 400,000 bytes held (two a character).
      greedy.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20))
      yield* untilConnections(listener, (open) => open === 1)
      const closed = yield* Effect.timeoutOption(untilConnections(listener, (open) => open === 0), "5 seconds")
      assert.isTrue(Option.isSome(closed), "closed by the server")
      const reader = yield* exchange(listener.port, "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "")
      assert.match(reader, /^HTTP\/1\.1 200 OK\r\n/)
      assert.isTrue(reader.endsWith("x".repeat(64 * 1024)))
    }).pipe(Effect.scoped)
  )

  /**
   * A client that writes `requests` at once and reads nothing (it notices no close then), destroyed with the test's
   * scope; `resumed` reads what came and ends with it once the server has closed the connection.
   */
  const greedyClient = (port: number, requests: string, localAddress = "127.0.0.1") =>
    Effect.gen(function* () {
      const socket = connect({ port, host: "127.0.0.1", localAddress })
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      socket.pause()
      socket.on("error", () => undefined)
      let received = ""
      socket.on("data", (chunk: Buffer) => void (received += chunk.toString("latin1")))
      const closed = yield* Deferred.make<void>()
      socket.on("close", () => Deferred.unsafeDone(closed, Effect.void))
      socket.write(requests)
      const resumed = Effect.suspend(() => {
        socket.resume()
        return Effect.map(Deferred.await(closed), () => received)
      })
      return { socket, resumed, received: () => received }
    })
  const nextTurn = Effect.promise(() => new Promise((done) => setImmediate(done)))

  /** Of three connections holding `/giant` answers, one is closed by the server, and `reader`, reading now, gets its whole answer. */
  const oneClosedReaderServed = (listener: WireListener, reader: { readonly socket: Socket; readonly received: () => string }) =>
    Effect.gen(function* () {
      yield* untilConnections(listener, (open) => open === 3)
      const oneClosed = yield* Effect.timeoutOption(untilConnections(listener, (open) => open === 2), "5 seconds")
      assert.isTrue(Option.isSome(oneClosed), "one closed by the server")
      const got = yield* Effect.timeoutOption(
        Effect.suspend(() => {
          reader.socket.resume()
          return Effect.repeat(Effect.sync(() => reader.received().length), { until: (length) => length > 16 * 1024 * 1024, schedule: Schedule.spaced("5 millis") })
        }),
        "5 seconds"
      )
      assert.isTrue(Option.isSome(got), "the reader got its whole answer")
    })

  it.live("answers under 64 KiB queued behind one not taken are counted too: a client pipelining them and reading none is closed at its share, and what came after in the same read is not run (probe 47 H1, L1)", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { stallTimeoutMs: 0, maxHeldAnswerBytesPerConnection: 400_000 } })
      const before = counted
      // Forty 16 KiB answers (35,328 bytes counted each) and a request that would run the counter, in one write.
      yield* greedyClient(listener.port, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n".repeat(40) + "GET /count HTTP/1.1\r\nHost: x\r\n\r\n")
      yield* untilConnections(listener, (open) => open === 1)
      const closed = yield* Effect.timeoutOption(untilConnections(listener, (open) => open === 0), "5 seconds")
      assert.isTrue(Option.isSome(closed), "closed by the server")
      assert.strictEqual(counted, before, "the request after the refusal was not run")
      assert.strictEqual(yield* listener.heldAnswerBytes, 0)
    }).pipe(Effect.scoped)
  )

  describe("a costly answer (/debug, /metrics) is refused while an answer before it on its connection is not taken (probe 52 L4: each was built anyway)", () => {
    it.live("twenty pipelined by a client that reads nothing: one is built, the others get a 429 that says why", () =>
      Effect.gen(function* () {
        let answered = 0
        const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, onAnswer: (path) => void (path === "/costly" && answered++) })
        const before = costlyBuilt
        const request = "GET /costly HTTP/1.1\r\nHost: x\r\n\r\n"
        const client = yield* greedyClient(listener.port, request.repeat(19) + request.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"))
        while (answered < 20) yield* nextTurn
        const received = yield* client.resumed
        assert.strictEqual(costlyBuilt - before, 1)
        assert.lengthOf(received.match(/HTTP\/1\.1 200 OK/g) ?? [], 1)
        assert.lengthOf(received.match(/HTTP\/1\.1 429 Too Many Requests/g) ?? [], 19)
        assert.include(received, '{"error":"/costly: an earlier answer on this connection has not been read yet; read it before asking again"}')
      }).pipe(Effect.scoped)
    )

    it.live("a client that reads each answer before it asks again is never refused", () =>
      Effect.gen(function* () {
        const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes })
        const agent = new Agent({ keepAlive: true, maxSockets: 1 })
        yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
        const statuses: Array<number> = []
        const sockets = new Set<unknown>()
        for (let index = 0; index < 5; index++) {
          const [status, socket] = yield* Effect.promise(
            () =>
              new Promise<[number, unknown]>((done, fail) => {
                const request = httpGet({ host: "127.0.0.1", port: listener.port, path: "/costly", agent }, (response) => {
                  response.resume()
                  response.on("end", () => done([response.statusCode ?? 0, request.socket]))
                })
                request.on("error", fail)
              })
          )
          statuses.push(status)
          sockets.add(socket)
        }
        assert.deepStrictEqual(statuses, [200, 200, 200, 200, 200])
        assert.strictEqual(sockets.size, 1, "one connection")
      }).pipe(Effect.scoped)
    )
  })

  it.live("a client that pipelines answers larger than its socket's buffers and leaves: all it held is no longer counted, the answers never handed to its socket included (review 51 M1)", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { stallTimeoutMs: 0, ...unboundedAnswers } })
      // 20 MiB of answers: more than the kernel's buffers on both sides take (a few MiB on loopback).
      const greedy = yield* greedyClient(listener.port, "GET /huge HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20))
      while ((yield* listener.heldAnswerBytes) < 8 * 1024 * 1024) yield* nextTurn
      greedy.socket.destroy()
      yield* untilConnections(listener, (open) => open === 0)
      assert.strictEqual(yield* listener.heldAnswerBytes, 0)
      // And a client pipelining three of them and reading gets all three.
      const reader = yield* exchange(listener.port, "GET /huge HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2) + "GET /huge HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "")
      assert.strictEqual(reader.split("HTTP/1.1 200 OK").length - 1, 3)
      assert.isTrue(reader.endsWith("h".repeat(1024 * 1024)))
    }).pipe(Effect.scoped)
  )

  it.live("a large answer from a slow route to a client that has left is not counted (review 51 M1)", () =>
    Effect.gen(function* () {
      const release = yield* Deferred.make<void>()
      const answered = yield* Deferred.make<void>()
      const slowRoutes: RouteTable = new Map<string, WireRoute>([
        ["/slow", { method: "GET", body: "none", handle: () => Effect.as(Deferred.await(release), text(200, "x".repeat(100 * 1024))).pipe(Effect.ensuring(Deferred.succeed(answered, undefined))) }]
      ])
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes: slowRoutes })
      const client = yield* greedyClient(listener.port, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
      yield* untilConnections(listener, (open) => open === 1)
      client.socket.destroy()
      yield* untilConnections(listener, (open) => open === 0)
      yield* Deferred.succeed(release, undefined)
      yield* Deferred.await(answered)
      yield* Effect.promise(() => new Promise((done) => setImmediate(done)))
      assert.strictEqual(yield* listener.heldAnswerBytes, 0)
    }).pipe(Effect.scoped)
  )

  /**
   * A listener whose connections may hold 1,000,000 bytes of answers in all, with a `/wait` route that answers once
   * `release` is done: the answers pipelined behind it are all queued, whatever the kernel's buffers take.
   */
  const boundedBehindWaitWith = (limits: Partial<WireLimits>, logs = capturedLogs(LogLevel.Warning)) =>
    Effect.gen(function* () {
      const release = yield* Deferred.make<void>()
      const waitRoutes: RouteTable = new Map<string, WireRoute>([...routes, ["/wait", { method: "GET", body: "none", handle: () => Effect.as(Deferred.await(release), text(200, "waited")) }]])
      const listener = yield* serve({ name: "test", host: "127.0.0.1", port: 0, routes: waitRoutes, limits: { stallTimeoutMs: 0, ...limits } }).pipe(
        Effect.tap((served) => Effect.addFinalizer(() => TestServices.provideLive(served.close("2 seconds")))),
        Effect.provide(logs.layer)
      )
      return { listener, release, warnings: () => logs.lines.map((line) => String(line.message[0])) }
    })
  const boundedBehindWait = boundedBehindWaitWith({ maxHeldAnswerBytes: 1_000_000 })
  const [wait, big] = ["GET /wait HTTP/1.1\r\nHost: x\r\n\r\n", "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"]

  it.live("answers not taken reaching the bound of all connections close the connection holding the most; a newer one and a reader are served (probe 47 M1)", () =>
    Effect.gen(function* () {
      const { listener, release } = yield* boundedBehindWait
      // Six 64 KiB answers each (133,632 bytes counted), queued behind a slow one: the second client's second would
      // pass 1,000,000 held.
      const first = yield* greedyClient(listener.port, wait + big.repeat(6))
      while ((yield* listener.heldAnswerBytes) < 6 * 133_632) yield* nextTurn
      const second = yield* greedyClient(listener.port, wait + big.repeat(5) + big.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"))
      yield* untilConnections(listener, (open) => open === 2)
      const oneClosed = yield* Effect.timeoutOption(untilConnections(listener, (open) => open === 1), "5 seconds")
      assert.isTrue(Option.isSome(oneClosed), "one closed by the server")
      assert.strictEqual(yield* listener.heldAnswerBytes, 6 * 133_632)
      const reader = yield* exchange(listener.port, big.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"), "")
      assert.match(reader, /^HTTP\/1\.1 200 OK\r\n/)
      // The first, holding the most, was the one closed, with none of its answers: the second gets its six.
      yield* Deferred.succeed(release, undefined)
      const [firstGot, secondGot] = [yield* live(first.resumed, "the first's close"), yield* live(second.resumed, "the second's close")]
      assert.strictEqual(firstGot, "")
      assert.strictEqual(secondGot.split("HTTP/1.1 200 OK").length - 1, 7)
      assert.isTrue(secondGot.endsWith("x".repeat(64 * 1024)))
    }).pipe(Effect.scoped)
  )

  it.live("past the bound of all connections, a client that reads, whose answers wait behind its own slow request, keeps its connection; the one that holds more and reads nothing is closed (review 52 M1)", () =>
    Effect.gen(function* () {
      const { listener, release } = yield* boundedBehindWait
      const reader = yield* greedyClient(listener.port, wait + big.repeat(2) + big.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"))
      reader.socket.resume()
      while ((yield* listener.heldAnswerBytes) < 3 * 133_632) yield* nextTurn
      // Later, holding more, reading nothing: the total is passed at its fifth answer.
      yield* greedyClient(listener.port, wait + big.repeat(6))
      yield* untilConnections(listener, (open) => open === 2)
      const oneClosed = yield* Effect.timeoutOption(untilConnections(listener, (open) => open === 1), "5 seconds")
      assert.isTrue(Option.isSome(oneClosed), "one closed by the server")
      yield* Deferred.succeed(release, undefined)
      const got = yield* live(reader.resumed, "the reader's answers")
      assert.strictEqual(got.split("HTTP/1.1 200 OK").length - 1, 4)
      assert.isTrue(got.endsWith("x".repeat(64 * 1024)))
    }).pipe(Effect.scoped)
  )

  it.live("HEAD answers carry no body and are counted without one: a client pipelining six for a 1 MiB answer gets all six", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { stallTimeoutMs: 0, maxHeldAnswerBytesPerConnection: 4 * 1024 * 1024 } })
      const head = "HEAD /huge HTTP/1.1\r\nHost: x\r\n\r\n"
      const got = yield* exchange(listener.port, head.repeat(5) + head.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"), "")
      assert.strictEqual(got.split("HTTP/1.1 200 OK").length - 1, 6)
      assert.notInclude(got, "hhhh")
    }).pipe(Effect.scoped)
  )

  it.live("past its share, a connection takes no more: a client that reads later gets every answer before, a side effect's among them, then the close; what came after does not run (probe 48 F3)", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { stallTimeoutMs: 0, maxHeldAnswerBytesPerConnection: 400_000 } })
      const before = counted
      const [small, count] = ["GET /small HTTP/1.1\r\nHost: x\r\n\r\n", "GET /count HTTP/1.1\r\nHost: x\r\n\r\n"]
      // Eleven 16 KiB answers (the first written, ten queued: 353,280 bytes), a count, two more: past 400,000; the count
      // after them is refused.
      const client = yield* greedyClient(listener.port, small.repeat(11) + count + small.repeat(2) + count + small)
      while (counted === before) yield* nextTurn
      const got = yield* live(client.resumed, "the close after the answers")
      assert.strictEqual(got.split("HTTP/1.1 200 OK").length - 1, 14)
      assert.include(got, `\r\n\r\n${before + 1}HTTP/1.1 200 OK`)
      assert.isTrue(got.endsWith("s".repeat(16 * 1024)))
      assert.strictEqual(counted, before + 1)
      yield* untilConnections(listener, (open) => open === 0)
      assert.strictEqual(yield* listener.heldAnswerBytes, 0)
    }).pipe(Effect.scoped)
  )

  it.live("requests that come on a connection taking no more are counted until it closes: one that keeps sending them, reading nothing, is closed (probe 48 F1)", () =>
    Effect.gen(function* () {
      const { listener, warnings } = yield* boundedBehindWaitWith({ maxHeldAnswerBytesPerConnection: 100_000 })
      const before = counted
      // A body declared and not read (an unknown path): the connection takes no more; a hundred requests follow.
      yield* greedyClient(listener.port, wait + "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx" + "GET /count HTTP/1.1\r\nHost: x\r\n\r\n".repeat(100))
      yield* untilConnections(listener, (open) => open === 1)
      const closed = yield* Effect.timeoutOption(untilConnections(listener, (open) => open === 0), "5 seconds")
      assert.isTrue(Option.isSome(closed), "closed by the server, its first request still unanswered")
      assert.strictEqual(counted, before)
      // Said, though it took no more for its unread body, not for its share (review 53 L1).
      yield* Effect.yieldNow()
      assert.deepStrictEqual(warnings(), ["test: a connection holding more answers than its share, not taken by its client, closed"])
      assert.strictEqual(yield* listener.heldAnswerBytes, 0)
    }).pipe(Effect.scoped)
  )

  it.live("a large answer is written in pieces, byte for byte as one: a surrogate pair is never cut between two", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes })
      const got = yield* Effect.async<Buffer>((resume) => {
        const socket = connect(listener.port, "127.0.0.1")
        const chunks: Array<Buffer> = []
        socket.on("data", (chunk: Buffer) => void chunks.push(chunk))
        socket.on("close", () => resume(Effect.succeed(Buffer.concat(chunks))))
        socket.write("GET /pairs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return Effect.sync(() => socket.destroy())
      })
      const body = Buffer.from(`a${"😀".repeat(100_000)}`, "utf8")
      const at = got.indexOf("\r\n\r\n") + 4
      assert.include(got.subarray(0, at).toString("latin1"), `content-length: ${body.length}\r\n`)
      assert.isTrue(got.subarray(at).equals(body), "the body's bytes")
    }).pipe(Effect.scoped)
  )

  it.live("a large answer's client that reads, however slowly, makes progress piece by piece: past the total, a newer connection that reads nothing is closed before it (probe 48 F2, probe 49 M1)", () =>
    Effect.gen(function* () {
      const whole = 2 * 16 * 1024 * 1024 + 2560
      // Room for two of them, not three.
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { stallTimeoutMs: 0, maxHeldAnswerBytes: 2.5 * whole } })
      const giant = "GET /giant HTTP/1.1\r\nHost: x\r\n\r\n"
      const reader = yield* greedyClient(listener.port, giant)
      while ((yield* listener.heldAnswerBytes) < whole) yield* nextTurn
      const idle = yield* greedyClient(listener.port, giant)
      while ((yield* listener.heldAnswerBytes) < 2 * whole) yield* nextTurn
      // The reader reads some, its answer held whole all the while; then stops, its socket full again. Half a MiB: a
      // reader that read 8 MiB fast had its kernel's receive buffer grown (here up to 32 MiB, `tcp_rmem`) until the rest
      // of the 16 MiB fitted in the kernel, the answer ended, and nothing was past the total (one CI run in many).
      reader.socket.resume()
      while (reader.received().length < 512 * 1024) yield* nextTurn
      reader.socket.pause()
      // Turns of the event loop, not time, for the kernel to fill the reader's socket again (nothing says when it has).
      for (let turn = 0; turn < 200; turn++) yield* nextTurn
      assert.strictEqual(yield* listener.heldAnswerBytes, 2 * whole, "the reader's answer is still held whole")
      yield* greedyClient(listener.port, giant)
      yield* oneClosedReaderServed(listener, reader)
      assert.isBelow(idle.received().length, 1, "the idle one read nothing")
    }).pipe(Effect.scoped)
  )

  it.live("past the total, the connections of a client holding more than its share are closed before another client's that has gone longer without progress", () =>
    Effect.gen(function* () {
      const whole = 2 * 16 * 1024 * 1024 + 2560
      const limits = { stallTimeoutMs: 0, maxHeldAnswerBytesPerClient: 1.5 * whole, maxHeldAnswerBytes: 2.5 * whole }
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits })
      const giant = "GET /giant HTTP/1.1\r\nHost: x\r\n\r\n"
      const reader = yield* greedyClient(listener.port, giant)
      while ((yield* listener.heldAnswerBytes) < whole) yield* nextTurn
      // Another client (another loopback address), whose first connection fills its socket after the reader's has.
      yield* greedyClient(listener.port, giant, "127.0.0.2")
      while ((yield* listener.heldAnswerBytes) < 2 * whole) yield* nextTurn
      for (let turn = 0; turn < 200; turn++) yield* nextTurn
      // Its second: three answers, room for two; that client holds two, more than its share.
      yield* greedyClient(listener.port, giant, "127.0.0.2")
      yield* oneClosedReaderServed(listener, reader)
    }).pipe(Effect.scoped)
  )

  it.live("the parser's own refusals are counted as every answer is: under the route whose body failed, under other when no request was read", () =>
    Effect.gen(function* () {
      const counted: Array<[string, number]> = []
      const listener = yield* serveQuietly({
        name: "test",
        host: COUNTED_HOST,
        port: 0,
        routes,
        limits: { headersTimeoutMs: 300, requestTimeoutMs: 400 },
        onAnswer: (path, status) => void counted.push([path, status])
      })
      // A body that stops coming, caught by the request timeout (not the stall limit's path).
      assert.match(yield* exchange(listener.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", "", COUNTED_HOST), /^HTTP\/1\.1 408 /)
      // A chunk that is not one.
      assert.match(yield* exchange(listener.port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "", COUNTED_HOST), /^HTTP\/1\.1 400 /)
      // Headers too large, and a request line that is not one: no route read.
      assert.match(yield* exchange(listener.port, `GET /echo HTTP/1.1\r\nHost: x\r\nX-Long: ${"y".repeat(20_000)}\r\n\r\n`, "", COUNTED_HOST), /^HTTP\/1\.1 431 /)
      assert.match(yield* exchange(listener.port, "GARBAGE\r\n\r\n", "", COUNTED_HOST), /^HTTP\/1\.1 400 /)
      assert.deepStrictEqual(counted, [["/echo", 408], ["/echo", 400], ["other", 431], ["other", 400]])
    }).pipe(Effect.scoped)
  )

  it.live("a body that times out behind an unanswered request waits for that one's answer, gets its 408 after it, then the connection closes", () =>
    Effect.gen(function* () {
      const release = yield* Deferred.make<void>()
      const timedOut = yield* Deferred.make<void>()
      const slowRoutes: RouteTable = new Map<string, WireRoute>([...routes, ["/slow", { method: "GET", body: "none", handle: () => Effect.as(Deferred.await(release), text(200, "slow")) }]])
      const listener = yield* serveQuietly({
        name: "test",
        host: "127.0.0.1",
        port: 0,
        routes: slowRoutes,
        limits: { headersTimeoutMs: 300, requestTimeoutMs: 400 },
        onAnswer: (_path, status) => void (status === 408 && Deferred.unsafeDone(timedOut, Effect.void))
      })
      const lateBody = yield* Effect.fork(exchange(listener.port, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", ""))
      // The 408 is made (and queued) when the timeout passes; the slow answer is released only then.
      yield* Deferred.await(timedOut).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("no 408 was made") }))
      yield* Deferred.succeed(release, undefined)
      const late = yield* Fiber.join(lateBody)
      assert.deepStrictEqual(late.match(/HTTP\/1\.1 \d{3}/g), ["HTTP/1.1 200", "HTTP/1.1 408"])
      assert.match(late, /\r\n\r\nslowHTTP\/1\.1 408 Request Timeout\r\n/)
    }).pipe(Effect.scoped)
  )

  it.live("a client that never reads, its answers backed up and a body half-sent behind them, is still cut off by the stall limit", () =>
    Effect.gen(function* () {
      // The answers it may hold are not bounded here, so that the stall limit alone acts.
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { stallTimeoutMs: 300, ...unboundedAnswers } })
      // A client that reads nothing notices no close either: the server's count of open connections tells.
      const socket = connect(listener.port, "127.0.0.1")
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      socket.pause()
      socket.on("error", () => undefined)
      socket.write(`${"GET /big HTTP/1.1\r\nHost: x\r\n\r\n".repeat(64)}POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc`)
      yield* Effect.repeat(listener.connections, { until: (open) => open === 1, schedule: Schedule.spaced("5 millis") })
      const gone = yield* Effect.repeat(listener.connections, { until: (open) => open === 0, schedule: Schedule.spaced("20 millis") }).pipe(Effect.timeoutOption("5 seconds"))
      assert.isTrue(Option.isSome(gone), "closed by the server within 5 s")
    }).pipe(Effect.scoped)
  )

  it.live("a client holding an answer it has not taken, a body half sent behind it, is closed at the first stall limit, with no 408 queued behind (probe 49 L1)", () =>
    Effect.gen(function* () {
      const answered: Array<[string, number]> = []
      // Its share unbounded here, so that the request behind the answer runs.
      const limits = { stallTimeoutMs: 300, maxHeldAnswerBytesPerConnection: Number.POSITIVE_INFINITY }
      const listener = yield* serveQuietly({ name: "test", host: COUNTED_HOST, port: 0, routes, limits, onAnswer: (path, status) => void answered.push([path, status]) })
      const socket = connect(listener.port, COUNTED_HOST)
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      socket.pause()
      socket.on("error", () => undefined)
      // 16 MiB: more than the kernel's buffers take.
      socket.write("GET /giant HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
      while (answered.length === 0) yield* nextTurn
      const gone = yield* Effect.repeat(listener.connections, { until: (open) => open === 0, schedule: Schedule.spaced("20 millis") }).pipe(Effect.timeoutOption("5 seconds"))
      assert.isTrue(Option.isSome(gone), "closed by the server within 5 s")
      assert.deepStrictEqual(answered, [["/giant", 200]])
    }).pipe(Effect.scoped)
  )

  it.live("a body that stops coming gets its 408 when the request timeout passes; many requests before a bad one add no listener warning", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const onWarning = (warning: Error) => void warnings.push(warning.name)
      process.on("warning", onWarning)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.off("warning", onWarning)))
      const release = yield* Deferred.make<void>()
      const slowRoutes: RouteTable = new Map<string, WireRoute>([
        ...routes,
        ["/slow", { method: "GET", body: "none", handle: () => Effect.as(Deferred.await(release), text(200, "slow")) }]
      ])
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes: slowRoutes, limits: { requestTimeoutMs: 500, headersTimeoutMs: 400 } })
      const slow = yield* exchange(listener.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", "")
      assert.match(slow, /^HTTP\/1\.1 408 Request Timeout\r\n/)
      const pipelined = yield* Effect.fork(exchange(listener.port, `${"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n".repeat(12)}GARBAGE\r\n\r\n`, ""))
      yield* Effect.yieldNow()
      yield* Deferred.succeed(release, undefined)
      assert.lengthOf((yield* Fiber.join(pipelined)).match(/HTTP\/1\.1 200 OK/g) ?? [], 12)
      // A bad body behind a request still unanswered (its handler's fiber has not run yet): that request's answer
      // first, then the bad body's own 400, then the connection closes.
      const behind = yield* exchange(listener.port, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n", "")
      assert.deepStrictEqual(behind.match(/HTTP\/1\.1 \d{3}/g), ["HTTP/1.1 200", "HTTP/1.1 400"])
      assert.match(behind, /\r\n\r\nslowHTTP\/1\.1 400 Bad Request\r\n/)
      assert.match(behind.slice(behind.indexOf("HTTP/1.1 400")), /\r\nconnection: close\r\n/i)
      assert.deepStrictEqual(warnings, [])
    }).pipe(Effect.scoped)
  )

  it.live("every answer on a known path is counted under that path, bad bodies and wrong methods included; only unknown paths are \"other\"", () =>
    Effect.gen(function* () {
      const counted: Array<[string, number]> = []
      const listener = yield* serveQuietly({ name: "test", host: COUNTED_HOST, port: 0, routes, limits: { maxBodyBytes: 1024 }, onAnswer: (path, status) => void counted.push([path, status]) })
      const post = (body: string) => `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body, "latin1")}\r\nConnection: close\r\n\r\n${body}`
      const expecting = "POST /echo?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"
      for (const request of [post("nonjson"), post("\xff"), post("[".repeat(100)), post("x".repeat(2000)), expecting, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]) {
        yield* exchange(listener.port, request, "", COUNTED_HOST)
      }
      assert.deepStrictEqual(counted, [["/echo", 422], ["/echo", 422], ["/echo", 422], ["/echo", 413], ["/echo", 413], ["/echo", 405], ["other", 404]])
    }).pipe(Effect.scoped)
  )

  it.live("Expect: 100-continue: a body declared over the limit, in a coding not decoded, or refused by the guard is refused at once (no 100); a small one is asked for and served", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { maxBodyBytes: 1024 } })
      const refused = yield* exchange(
        listener.port,
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n",
        ""
      )
      assert.match(refused, /^HTTP\/1\.1 413 /)
      assert.include(refused.toLowerCase(), "connection: close")
      const served = yield* exchange(
        listener.port,
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        '{"a":1}'
      )
      assert.match(served, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /)
      assert.isTrue(served.endsWith('{"a":1}'), served)
      // A coding that is not decoded, or a request the listener's guard refuses: answered without a 100 first.
      const guarded = yield* serveGuarded
      // The guard is asked before the declared size, as without `Expect` (probe 44 F4: a web page's 5 MB post got 413).
      for (const [port, header, length, status] of [
        [listener.port, "Content-Encoding: gzip", 7, 415],
        [guarded.port, "X-Refuse: 1", 7, 422],
        [listener.port, "X-Refuse: 1", 5_000_000, 413],
        [guarded.port, "X-Refuse: 1", 5_000_000, 422]
      ] as const) {
        const answer = yield* exchange(port, `POST /echo HTTP/1.1\r\nHost: x\r\n${header}\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`, '{"a":1}')
        assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${header} ${length}`)
        assert.include(answer.toLowerCase(), "connection: close", header)
      }
      // An expectation other than 100-continue: 417, naming the header (Node's own has no body), and the connection closes.
      const unknown = yield* exchange(listener.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nExpect: foo\r\n\r\n", '{"a":1}')
      assert.match(unknown, /^HTTP\/1\.1 417 Expectation Failed\r\n/)
      assert.include(unknown.toLowerCase(), "connection: close")
      assert.isTrue(unknown.endsWith('\r\n\r\n{"error":"expect: only 100-continue is understood","field":"expect"}'), unknown)
      // The guard still answers first: a request it refuses gets its refusal, not the 417.
      const guardedUnknown = yield* exchange(guarded.port, "POST /echo HTTP/1.1\r\nHost: x\r\nX-Refuse: 1\r\nContent-Length: 7\r\nExpect: foo\r\n\r\n", '{"a":1}')
      assert.match(guardedUnknown, /^HTTP\/1\.1 422 /)
      assert.isTrue(guardedUnknown.endsWith('{"error":"x-refuse: refused","field":"x-refuse"}'), guardedUnknown)
    }).pipe(Effect.scoped)
  )

  it.live("a request answered without its body being read (unknown path, wrong method, the guard's refusal, a route that reads none) closes its connection if it declared one; without one the connection is kept (probe 41 M1)", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes })
      const guarded = yield* serveGuarded
      // Behind each request, one that is answered only if the connection was kept.
      const next = 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"b":2}'
      const cases = [
        [listener.port, "POST /nope", "", 404],
        [listener.port, "POST /big", "", 405],
        [listener.port, "GET /big", "", 200],
        [guarded.port, "POST /echo", "X-Refuse: 1\r\n", 422]
      ] as const
      for (const [port, request, header, status] of cases) {
        for (const framing of ["Content-Length: 7\r\n\r\n", "Transfer-Encoding: chunked\r\n\r\n7\r\n", "\r\n", "Content-Length: 0\r\n\r\n"]) {
          const declared = framing !== "\r\n" && framing !== "Content-Length: 0\r\n\r\n"
          const body = framing.startsWith("Transfer") ? '{"a":1}\r\n0\r\n\r\n' : framing.startsWith("Content-Length: 7") ? '{"a":1}' : ""
          const received = yield* exchange(port, `${request} HTTP/1.1\r\nHost: x\r\n${header}${framing}${body}${next}`, "")
          const what = `${request} ${header}${JSON.stringify(framing)}`
          assert.match(received, new RegExp(`^HTTP/1\\.1 ${status} `), what)
          assert.strictEqual(received.split("\r\n").filter((line) => line.toLowerCase() === "connection: close").length, 1, what)
          assert.strictEqual(received.endsWith('{"b":2}'), !declared, what)
          // Spelled as the worker's other closing answers are (Node's own would be `Connection: close`): one wire form.
          if (declared) assert.include(received, "\r\nconnection: close\r\n", what)
        }
      }
      // Nor is such a body asked for with `100 Continue`: the answer comes at once, and closes.
      for (const [port, request, header, status] of cases) {
        const received = yield* exchange(port, `${request} HTTP/1.1\r\nHost: x\r\n${header}Content-Length: 7\r\nExpect: 100-continue\r\n\r\n`, '{"a":1}')
        assert.match(received, new RegExp(`^HTTP/1\\.1 ${status} `), request)
        assert.include(received.toLowerCase(), "connection: close", request)
      }
    }).pipe(Effect.scoped)
  )

  it.live("a request without Host (HTTP/1.1) or with more than one Host line (any version or spelling) is refused 400 in JSON naming the header on every path, and the connection closes; HTTP/1.0 needs none", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes })
      const missing = '\r\n\r\n{"error":"host: an HTTP/1.1 request must have a Host header","field":"host"}'
      const repeated = '\r\n\r\n{"error":"host: a request must have one Host header, not several","field":"host"}'
      for (const [head, body, refusal] of [
        ["POST /echo HTTP/1.1\r\nContent-Length: 7\r\n\r\n", '{"a":1}', missing],
        ["POST /echo HTTP/1.1\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n", '{"a":1}', missing],
        ["POST /echo HTTP/1.1\r\nContent-Length: 7\r\nExpect: foo\r\n\r\n", '{"a":1}', missing],
        ["GET /nowhere HTTP/1.1\r\n\r\n", "", missing],
        ["POST /echo HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 7\r\n\r\n", '{"a":1}', repeated],
        ["POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nHOST: x\r\n\r\n", '{"a":1}', repeated],
        ["POST /echo HTTP/1.0\r\nhost: x\r\nHost: y\r\nContent-Length: 7\r\n\r\n", '{"a":1}', repeated],
        ["POST /echo HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n", '{"a":1}', repeated],
        ["POST /echo HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 7\r\nExpect: foo\r\n\r\n", '{"a":1}', repeated],
        ["GET /nowhere HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n", "", repeated]
      ] as const) {
        const answer = yield* exchange(listener.port, head, body)
        assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/, head)
        assert.include(answer.toLowerCase(), "connection: close", head)
        assert.isTrue(answer.endsWith(refusal), answer)
      }
      const old = yield* exchange(listener.port, 'POST /echo HTTP/1.0\r\nContent-Length: 7\r\n\r\n{"a":1}', "")
      assert.match(old, /^HTTP\/1\.1 200 OK\r\n/)
      assert.isTrue(old.endsWith('\r\n\r\n{"a":1}'), old)
      // One Host line, and a header whose name merely starts or ends like it, are served.
      const one = yield* exchange(listener.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nX-Host: y\r\nHosts: z\r\nConnection: close\r\nContent-Length: 7\r\n\r\n{"a":1}', "")
      assert.match(one, /^HTTP\/1\.1 200 OK\r\n/)
    }).pipe(Effect.scoped)
  )

  it.live("a CONNECT is answered 501 in JSON and the connection closes (Node dropped it without a word); after a request on its connection, that request's answer comes first", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes })
      const alone = yield* exchange(listener.port, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "")
      assert.match(alone, /^HTTP\/1\.1 501 Not Implemented\r\n/)
      assert.include(alone.toLowerCase(), "connection: close")
      assert.isTrue(alone.endsWith('\r\n\r\n{"error":"CONNECT is not served: this is not a proxy"}'), alone)
      const behind = yield* exchange(listener.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{"a":1}CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', "")
      assert.match(behind, /^HTTP\/1\.1 200 OK\r\n/)
      assert.isTrue(behind.endsWith('{"a":1}'), behind)
    }).pipe(Effect.scoped)
  )

  /** A chunked POST of `body` to /echo, written as `sizes` chunks in turn (the last size repeats), one write each. */
  const chunked = (port: number, body: string, sizes: ReadonlyArray<number>) =>
    Effect.gen(function* () {
      let head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      let at = 0
      for (let i = 0; at < body.length; i++) {
        const piece = body.slice(at, at + (sizes[Math.min(i, sizes.length - 1)] ?? 1))
        at += piece.length
        head += `${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`
      }
      return yield* exchange(port, `${head}0\r\n\r\n`, "")
    })

  it.live("a body in a coding that is not decoded is refused, naming the header, not parsed as text: Content-Encoding 415, a transfer coding besides chunked 501", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes })
      const post = (headers: string, body: string) => exchange(listener.port, `POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n${body}`, "")
      const chunked = '7\r\n{"a":1}\r\n0\r\n\r\n'
      const cases = [
        ["Content-Encoding: gzip\r\nContent-Length: 7\r\n", '{"a":1}', 415, "content-encoding"],
        ["Content-Encoding: br, identity\r\nContent-Length: 7\r\n", '{"a":1}', 415, "content-encoding"],
        ["Transfer-Encoding: gzip, chunked\r\n", chunked, 501, "transfer-encoding"],
        ["Transfer-Encoding: x-custom,chunked\r\n", chunked, 501, "transfer-encoding"]
      ] as const
      for (const [headers, body, status, field] of cases) {
        const answer = yield* post(headers, body)
        assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), headers)
        assert.match(answer, /\r\nconnection: close\r\n/i, headers)
        assert.strictEqual((JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as { readonly field: string }).field, field, headers)
      }
      // Plain bodies, however they say so, are read as before.
      for (const headers of ["Content-Encoding: identity\r\nContent-Length: 7\r\n", "Content-Encoding: IDENTITY \r\nContent-Length: 7\r\n", "Transfer-Encoding: chunked\r\n"]) {
        assert.match(yield* post(headers, headers.includes("chunked") ? chunked : '{"a":1}'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"a":1\}$/, headers)
      }
    }).pipe(Effect.scoped)
  )

  it.live("a body sent in many small chunks is read whole and in order, however it is cut", () =>
    Effect.gen(function* () {
      // Pieces without a cap here: their count has its own test.
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { maxBodyBytes: 256 * 1024, maxBodyPieces: Infinity } })
      // 40 KiB: past the first buffer (16 KiB), so it doubles twice.
      const value = Array.from({ length: 40 * 1024 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("")
      const body = JSON.stringify({ value })
      for (const sizes of [[1], [3, 7, 1], [5000, 1], [16 * 1024, 16 * 1024 + 1], [body.length]]) {
        const answer = yield* chunked(listener.port, body, sizes)
        assert.match(answer, /^HTTP\/1\.1 200 /, String(sizes))
        assert.isTrue(answer.endsWith(body), `chunks of ${String(sizes)}`)
      }
    }).pipe(Effect.scoped)
  )

  it.live("a body in more pieces than the cap is refused with a 400 saying so, and the connection closes; one in as many as the cap is read (probe 39 I2)", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { maxBodyPieces: 100 } })
      const body = JSON.stringify({ value: "v".repeat(90) })
      // 100 chunks of one byte, then the rest (an HTTP chunk is a piece: Node hands each to the body on its own).
      const atCap = yield* chunked(listener.port, body, [...Array.from({ length: 99 }, () => 1), body.length])
      assert.match(atCap, /^HTTP\/1\.1 200 /)
      assert.isTrue(atCap.endsWith(body))
      const over = yield* chunked(listener.port, body, [1])
      assert.match(over, /^HTTP\/1\.1 400 /)
      assert.match(over, /\r\nconnection: close\r\n/i)
      assert.match(over, /\r\n\r\n\{"error":"request body came in more than 100 pieces; send it in larger chunks"\}$/)
    }).pipe(Effect.scoped)
  )

  /** A raw connection that sends `head` and `bytes` of body, then waits; what it was answered so far, and its close. */
  const partial = (port: number, head: string, bytes: number) =>
    Effect.acquireRelease(
      Effect.async<{ readonly socket: Socket; readonly received: () => string; readonly closed: Promise<void> }>((resume) => {
        const socket = connect(port, "127.0.0.1")
        let received = ""
        socket.on("error", () => undefined)
        socket.on("data", (chunk) => (received += chunk.toString("latin1")))
        const closed = new Promise<void>((done) => socket.on("close", () => done()))
        socket.write(head + "x".repeat(bytes), () => resume(Effect.succeed({ socket, received: () => received, closed })))
      }),
      (connection) => Effect.sync(() => connection.socket.destroy())
    )

  it.live("bodies being received share a budget: past it a large one gets 503 and its connection closes, a small one is still read, and what a client abandons is given back", () =>
    Effect.gen(function* () {
      const bodyBudget = makeBodyBudget(200 * 1024)
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { maxBodyBytes: 1024 * 1024 }, bodyBudget })
      const head = (length: number) => `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`
      const until = (what: string, done: () => boolean) =>
        Effect.repeat(Effect.sync(done), { until: (ok) => ok, schedule: Schedule.spaced("5 millis") }).pipe(
          Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error(`not ${what}`) })
        )
      const answered = yield* Effect.scoped(
        Effect.gen(function* () {
          // 80 KiB of a declared 1 MiB: past the free 16 KiB, its buffer (128 KiB) charges 112 KiB of the 200 KiB.
          const holding = yield* partial(listener.port, head(1024 * 1024), 80 * 1024)
          yield* until("charged", () => bodyBudget.held > 0)
          assert.isAtMost(bodyBudget.held, bodyBudget.max)
          const refused = yield* partial(listener.port, head(1024 * 1024), 150 * 1024)
          yield* Effect.promise(() => refused.closed)
          assert.match(refused.received(), /^HTTP\/1\.1 503 /)
          assert.include(refused.received(), "request bodies being received hold 204800 bytes")
          const small = yield* exchange(
            listener.port,
            'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{"a":123}',
            ""
          )
          assert.match(small, /^HTTP\/1\.1 200 /)
          return holding.received()
        })
      )
      assert.strictEqual(answered, "", "the first body was still being received")
      yield* until("given back once its client left", () => bodyBudget.held === 0)
    }).pipe(Effect.scoped)
  )

  it.live("with the budget held in full, a body within the free 16 KiB (every create and end) is still read; a larger one gets 503 (review 36 L2)", () =>
    Effect.gen(function* () {
      const bodyBudget = makeBodyBudget(200 * 1024)
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { maxBodyBytes: 1024 * 1024 }, bodyBudget })
      // Held in full by bodies still coming on other connections.
      bodyBudget.held = bodyBudget.max
      const post = (body: string) =>
        exchange(listener.port, `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, "")
      assert.match(yield* post('{"a":123}'), /^HTTP\/1\.1 200 /)
      const create = JSON.stringify({ auth_data: { url: "https://203.0.113.7:41234", signature: "x".repeat(344) }, payload: { pad: "y".repeat(12 * 1024) } })
      assert.match(yield* post(create), /^HTTP\/1\.1 200 /)
      assert.match(yield* post(JSON.stringify({ pad: "z".repeat(40 * 1024) })), /^HTTP\/1\.1 503 /)
      assert.strictEqual(bodyBudget.held, bodyBudget.max)
      bodyBudget.held = 0
    }).pipe(Effect.scoped)
  )
})

describe("WireServer at its connection cap", () => {
  const small: RouteTable = new Map<string, WireRoute>([
    ["/small", { method: "GET", body: "none", handle: () => Either.right(text(200, "ok")) }],
    ["/echo", { method: "POST", body: "json", handle: (request) => Either.right(text(200, JSON.stringify(request.body))) }]
  ])

  /** A keep-alive connection: `send` writes a request and resolves with its answer; `closed` resolves when it closes. */
  const open = (port: number) =>
    Effect.acquireRelease(
      Effect.async<{ readonly send: (request: string) => Promise<string>; readonly closed: Promise<string>; readonly socket: Socket }>((resume) => {
        const socket = connect(port, "127.0.0.1")
        let received = ""
        let onData = () => undefined as void
        socket.on("error", () => undefined)
        socket.on("data", (chunk) => {
          received += chunk.toString("latin1")
          onData()
        })
        const closed = new Promise<string>((done) => socket.on("close", () => done(received)))
        const send = (request: string) =>
          new Promise<string>((answered, failed) => {
            const from = received.length
            onData = () => {
              const answer = received.slice(from)
              const head = answer.indexOf("\r\n\r\n")
              const length = Number(/content-length: (\d+)/i.exec(answer)?.[1] ?? "-1")
              if (head >= 0 && answer.length >= head + 4 + length) answered(answer)
            }
            void closed.then(() => failed(new Error(`closed before an answer (received ${JSON.stringify(received.slice(from))})`)))
            socket.write(request)
          })
        socket.on("connect", () => resume(Effect.succeed({ send, closed, socket })))
      }),
      (connection) => Effect.sync(() => connection.socket.destroy())
    )
  const GET = "GET /small HTTP/1.1\r\nHost: x\r\n\r\n"
  /** A connection the server has taken: it answered one request, so it tracks it, idle from now. */
  const served = (port: number) =>
    Effect.gen(function* () {
      const connection = yield* open(port)
      assert.match(yield* Effect.promise(() => connection.send(GET)), /^HTTP\/1\.1 200 /)
      return connection
    })

  /** `/slow` answers once `release` is done (with `slowBody`); `/count` counts its runs and answers at once, after saying it ran. */
  // The answers connections hold are not bounded here: an 8 MiB answer (counted at 16 MiB) is only there to back up.
  const slowAndCountWith = (slowBody: string) => Effect.gen(function* () {
    const [slowBegun, release, counted] = [yield* Deferred.make<void>(), yield* Deferred.make<void>(), yield* Deferred.make<void>()]
    const state = { runs: 0 }
    const table: RouteTable = new Map<string, WireRoute>([
      ["/slow", { method: "GET", body: "none", handle: () => Effect.zipRight(Deferred.succeed(slowBegun, undefined), Effect.as(Deferred.await(release), text(200, slowBody))) }],
      [
        "/count",
        {
          method: "POST",
          body: "json",
          handle: () => {
            state.runs += 1
            Deferred.unsafeDone(counted, Effect.void)
            return Either.right(text(200, "ran"))
          }
        }
      ]
    ])
    const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes: table, limits: unboundedAnswers })
    return { listener, state, slowBegun, release, counted }
  })
  const slowAndCount = slowAndCountWith("slow")
  const SLOW = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
  const COUNT = "POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
  /** `/slow` and `/count` pipelined; the stop begins once `/count` has run, its answer waiting behind `/slow`'s. */
  const stopAfterCountRan = Effect.gen(function* () {
    const { counted, listener, release, state } = yield* slowAndCount
    const client = yield* halfOpenClient(listener.port)
    client.socket.write(`${SLOW}${COUNT}`)
    yield* Deferred.await(counted)
    yield* listener.closeAfterAnswers
    return { client, release, state }
  })

  it.scoped("a request pipelined behind a slow one whose declared body goes unread is not run: the slow one's answer closes the connection, and no request takes effect unanswered (probe 42 L1)", () =>
    Effect.gen(function* () {
      const { listener, release, slowBegun, state } = yield* slowAndCount
      const client = yield* halfOpenClient(listener.port)
      client.socket.write(`GET /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx${COUNT}`)
      yield* Deferred.await(slowBegun)
      // Turns of the event loop (not time) for the server to read what came behind: it shares this process.
      for (let turn = 0; turn < 5; turn++) yield* Effect.promise(() => new Promise((done) => setImmediate(done)))
      yield* Deferred.succeed(release, undefined)
      yield* Deferred.await(client.ended)
      const answers = client.received().split(/(?=HTTP\/1\.1 )/)
      assert.deepStrictEqual(answers.map((answer) => answer.slice(0, 12)), ["HTTP/1.1 200"])
      assert.match(answers[0] ?? "", /\r\nconnection: close\r\n[\s\S]*slow$/i)
      assert.strictEqual(state.runs, 0)
    })
  )

  it.scoped("a stop begun while a request pipelined behind a slow one has run: both are answered, then the connection closes (review 36 M1)", () =>
    Effect.gen(function* () {
      const { client, release, state } = yield* stopAfterCountRan
      yield* Deferred.succeed(release, undefined)
      // The server's FIN: it lingers for the client's side on the test's clock, which nothing moves.
      yield* Deferred.await(client.ended)
      const answers = client.received().split(/(?=HTTP\/1\.1 )/)
      assert.deepStrictEqual(answers.map((answer) => answer.slice(0, 12)), ["HTTP/1.1 200", "HTTP/1.1 200"])
      // The slow one's answer may not say close: Node would end the connection after it, dropping the answer queued behind.
      assert.match(answers[0] ?? "", /\r\nconnection: keep-alive\r\n[\s\S]*slow$/i)
      assert.match(answers[1] ?? "", /ran$/)
      assert.strictEqual(state.runs, 1)
    })
  )

  it.scoped("a stop begun while a request pipelined behind a slow one has run, then a third pipelined: it is not run, the two are answered, and the connection closes (review 37 L1)", () =>
    Effect.gen(function* () {
      const { client, release, state } = yield* stopAfterCountRan
      yield* Effect.promise(() => new Promise<void>((done) => client.socket.write(COUNT, () => done())))
      // Turns of the event loop (not time) for the server to read it: it shares this process.
      for (let turn = 0; turn < 5; turn++) yield* Effect.promise(() => new Promise((done) => setImmediate(done)))
      yield* Deferred.succeed(release, undefined)
      // The server's FIN once the two answers are written: the third's answer, which nothing will write, does not hold it
      // (it did until Node's 30 s request timeout, on the real clock: a bound there, not a wait).
      yield* TestServices.provideLive(
        Deferred.await(client.ended).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("no FIN within 5 s") }))
      )
      assert.deepStrictEqual(client.received().match(/HTTP\/1\.1 \d+/g), ["HTTP/1.1 200", "HTTP/1.1 200"])
      assert.match(client.received(), /ran$/)
      assert.strictEqual(state.runs, 1)
    })
  )

  it.scoped("a stop begun after the latest pipelined request was answered: once the earlier slow one is answered too, a request that comes next is not run (review 40 L1)", () =>
    Effect.gen(function* () {
      // Large, so that its write backs up while the client reads nothing: the connection is still open for the next request.
      const { counted, listener, release, state } = yield* slowAndCountWith("x".repeat(8 * 1024 * 1024))
      const client = yield* halfOpenClient(listener.port)
      client.socket.pause()
      client.socket.write(`${SLOW}${COUNT}`)
      // `/count` has run and been answered (queued behind `/slow`'s answer, without the close): the stop begins after.
      yield* Deferred.await(counted)
      yield* listener.closeAfterAnswers
      yield* Deferred.succeed(release, undefined)
      const turns = Effect.forEach(Array.from({ length: 20 }), () => Effect.promise(() => new Promise((done) => setImmediate(done))), { discard: true })
      yield* turns
      yield* Effect.promise(() => new Promise<void>((done) => client.socket.write(COUNT, () => done())))
      // Turns of the event loop (not time) for the server to read it: it shares this process.
      yield* turns
      client.socket.resume()
      yield* live(Deferred.await(client.ended), "the server's FIN")
      assert.strictEqual(state.runs, 1)
      assert.deepStrictEqual(client.received().match(/HTTP\/1\.1 \d+/g), ["HTTP/1.1 200", "HTTP/1.1 200"])
    })
  )

  it.scoped("a stop begun while a slow request is unanswered: a request pipelined after the stop is not run, and the slow one is answered with the close", () =>
    Effect.gen(function* () {
      const { listener, release, slowBegun, state } = yield* slowAndCount
      const client = yield* halfOpenClient(listener.port)
      client.socket.write(SLOW)
      yield* Deferred.await(slowBegun)
      yield* listener.closeAfterAnswers
      yield* Effect.promise(() => new Promise<void>((done) => client.socket.write(COUNT, () => done())))
      // Turns of the event loop (not time) for the server to read it: it shares this process.
      for (let turn = 0; turn < 5; turn++) yield* Effect.promise(() => new Promise((done) => setImmediate(done)))
      yield* Deferred.succeed(release, undefined)
      // The server's FIN: it lingers for the client's side on the test's clock, which nothing moves.
      yield* Deferred.await(client.ended)
      assert.deepStrictEqual(client.received().match(/HTTP\/1\.1 \d+/g), ["HTTP/1.1 200"])
      assert.match(client.received(), /\r\nconnection: close\r\n[\s\S]*slow$/i)
      assert.strictEqual(state.runs, 0)
    })
  )

  it.scoped("after closeAfterAnswers (a stop has begun) every answer says Connection: close and closes its connection; a request pipelined behind a last answer is not run", () =>
    Effect.gen(function* () {
      let runs = 0
      const counting: RouteTable = new Map<string, WireRoute>([
        ...small,
        [
          "/count",
          {
            method: "POST",
            body: "json",
            handle: () => {
              runs += 1
              return Either.right(text(200, "ran"))
            }
          }
        ]
      ])
      const count = 'POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'
      // The client's own Connection: close makes its answer the last, on any listener: what it pipelined after is not run.
      const plain = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes: counting })
      const asked = yield* exchange(plain.port, `${count.replace("Host: x", "Host: x\r\nConnection: close")}${count}${count}`, "")
      assert.deepStrictEqual(asked.match(/HTTP\/1\.1 \d+/g), ["HTTP/1.1 200"])
      assert.strictEqual(runs, 1)
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes: counting })
      const connection = yield* open(listener.port)
      assert.match(yield* Effect.promise(() => connection.send(GET)), /\r\nconnection: keep-alive\r\n/i)
      yield* listener.closeAfterAnswers
      const last = yield* Effect.promise(() => connection.send(GET))
      assert.match(last, /^HTTP\/1\.1 200 /)
      assert.match(last, /\r\nconnection: close\r\n/i)
      assert.notMatch(last, /keep-alive/i)
      // The server ends the connection (lingering for the client's side): the client learns it from a FIN.
      if (connection.socket.readableEnded === false) {
        yield* Effect.async<void>((resume) => void connection.socket.once("end", () => resume(Effect.void))).pipe(
          Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the server kept the connection") })
        )
      }
      // Three requests in one write while stopping: the first is answered, and closes; the two behind it are not run (their
      // answers could never be sent: a client must not be told nothing of a request that took effect).
      runs = 0
      const pipelined = yield* exchange(listener.port, `${count}${count}${count}`, "")
      assert.deepStrictEqual(pipelined.match(/HTTP\/1\.1 \d+/g), ["HTTP/1.1 200"])
      assert.match(pipelined, /\r\nconnection: close\r\n/i)
      assert.strictEqual(runs, 1)
      // Behind a refusal that closes (no Host, an unknown Expect, a coding not decoded), on a listener not stopping: the same.
      runs = 0
      for (const refused of ["POST /count HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", "POST /count HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 2\r\n\r\n{}", "POST /count HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}"]) {
        const behind = yield* exchange(plain.port, `${refused}${count}`, "")
        assert.deepStrictEqual(behind.match(/HTTP\/1\.1 \d+/g)?.length, 1, refused)
      }
      assert.strictEqual(runs, 0)
    })
  )

  it.scoped("a connection lingering after its last answer gives way to a newcomer at once", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes: small, limits: { maxConnections: 2, idleEvictionMs: 5_000 } })
      // Answered with Connection: close, their side kept open: the server lingers on both (the clock never moves).
      yield* Effect.forEach([1, 2], () =>
        Effect.acquireRelease(
          Effect.async<Socket>((resume) => {
            const socket = connect({ port: listener.port, host: "127.0.0.1", allowHalfOpen: true })
            socket.on("error", () => undefined)
            socket.on("data", () => undefined)
            socket.on("end", () => resume(Effect.succeed(socket)))
            socket.write("GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
          }),
          (socket) => Effect.sync(() => socket.destroy())
        )
      )
      assert.strictEqual(yield* listener.connections, 2)
      const newcomer = yield* served(listener.port)
      assert.match(yield* Effect.promise(() => newcomer.send(GET)), /^HTTP\/1\.1 200 /)
    })
  )

  it.scoped("a connection that closed is no longer counted or tracked: it never stands in for an idle one at the cap", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes: small, limits: { maxConnections: 1, idleEvictionMs: 5_000 } })
      // Accepted, then gone before any request.
      yield* acceptedThenGone(listener, false)
      yield* TestClock.adjust("6 seconds")
      // A fresh connection takes the one place; the next is refused (nothing has been idle 5 s), and the cap holds.
      const a = yield* served(listener.port)
      const b = yield* open(listener.port)
      assert.strictEqual(yield* Effect.promise(() => b.closed), "")
      assert.match(yield* Effect.promise(() => a.send(GET)), /^HTTP\/1\.1 200 /)
      assert.strictEqual(yield* listener.connections, 1)
    })
  )

  it.scoped("the connection idle the longest gives way to a newcomer, once idle 5 s; a busy one or one idle less never does", () =>
    Effect.gen(function* () {
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes: small, limits: { maxConnections: 2, idleEvictionMs: 5_000 } })
      const a = yield* served(listener.port)
      yield* TestClock.adjust("1 second")
      const b = yield* served(listener.port)
      yield* TestClock.adjust("5 seconds")
      // a has been idle 6 s, b 5 s: a gives way.
      const c = yield* served(listener.port)
      assert.match(yield* Effect.promise(() => a.closed), /^HTTP\/1\.1 200 [^]*ok$/, "a closed after its one answer")
      assert.match(yield* Effect.promise(() => b.send(GET)), /^HTTP\/1\.1 200 /)
      // b and c were just used: a newcomer is refused, and nothing else is closed.
      const d = yield* open(listener.port)
      assert.strictEqual(yield* Effect.promise(() => d.closed), "")
      assert.strictEqual(yield* listener.connections, 2)
      // c starts a request and sends its body slowly: busy, so b, idle 10 s, gives way before it (a body stalled with no
      // connection idle: the next test).
      const head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
      const answer = c.send(head + '{"a"')
      yield* TestClock.adjust("10 seconds")
      const e = yield* served(listener.port)
      yield* Effect.promise(() => b.closed)
      c.socket.write(":1}")
      assert.match(yield* Effect.promise(() => answer), /^HTTP\/1\.1 200 [^]*\{"a":1\}$/)
      assert.match(yield* Effect.promise(() => e.send(GET)), /^HTTP\/1\.1 200 /)
    })
  )

  it.scoped("a request body that stopped coming gives way at the cap once no connection is idle and nothing of it came for 5 s; one that came later keeps its place (probe 43 I1)", () =>
    Effect.gen(function* () {
      const bodyBudget = makeBodyBudget(64 * 1024 * 1024)
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes: small, limits: { maxConnections: 2, idleEvictionMs: 5_000 }, bodyBudget })
      /** Until the server has read a body past its free 16 KiB (it then charges the budget): the body is being read. */
      const untilHeld = (above: number) =>
        Effect.gen(function* () {
          while (bodyBudget.held <= above) yield* Effect.promise(() => new Promise((done) => setImmediate(done)))
          return bodyBudget.held
        })
      const stalledPost = `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n${" ".repeat(20_000)}`
      const a = yield* open(listener.port)
      void a.send(stalledPost).catch(() => undefined)
      const heldByA = yield* untilHeld(0)
      yield* TestClock.adjust("3 seconds")
      const b = yield* open(listener.port)
      void b.send(stalledPost).catch(() => undefined)
      const heldByBoth = yield* untilHeld(heldByA)
      // Both bodies stalled less than 5 s: a newcomer is refused, and both keep their places.
      const refused = yield* open(listener.port)
      assert.strictEqual(yield* Effect.promise(() => refused.closed), "")
      yield* TestClock.adjust("3 seconds")
      // a's stalled 6 s, b's 3 s: a gives way, unanswered (its request never ran), and its budget is given back.
      const c = yield* served(listener.port)
      assert.strictEqual(yield* Effect.promise(() => a.closed), "")
      const heldByB = heldByBoth - heldByA
      while (bodyBudget.held > heldByB) yield* Effect.promise(() => new Promise((done) => setImmediate(done)))
      yield* TestClock.adjust("1 second")
      // b's body moves (enough to grow its buffer, so that the budget shows the server has read it). Stalled since its
      // first bytes 6 s ago, it would give way at the next look; it moved since, so it keeps its place.
      b.socket.write(" ".repeat(15_000))
      yield* untilHeld(heldByB)
      yield* TestClock.adjust("2 seconds")
      const second = yield* open(listener.port)
      assert.strictEqual(yield* Effect.promise(() => second.closed), "", "c is idle 3 s and b's body moved")
      yield* TestClock.adjust("5 seconds")
      // c, idle 8 s, gives way first; then b, stalled 5 s since the cap saw it move.
      const d = yield* served(listener.port)
      assert.match(yield* Effect.promise(() => c.closed), /^HTTP\/1\.1 200 [^]*ok$/)
      const e = yield* served(listener.port)
      assert.strictEqual(yield* Effect.promise(() => b.closed), "")
      assert.match(yield* Effect.promise(() => d.send(GET)), /^HTTP\/1\.1 200 /)
      assert.match(yield* Effect.promise(() => e.send(GET)), /^HTTP\/1\.1 200 /)
      yield* untilConnections(listener, (count) => count === 2)
      while (bodyBudget.held > 0) yield* Effect.promise(() => new Promise((done) => setImmediate(done)))
    })
  )
})

describe("WireServer at its connection cap, over TLS", () => {
  let dir = ""
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "null-worker-tls-cap-"))
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem"), "-days", "1", "-subj", "/CN=127.0.0.1"], { stdio: "ignore" })
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  /** A TLS connection that sends one GET and resolves with the answer; `closed` resolves when it closes. */
  const tlsGet = (port: number) =>
    Effect.acquireRelease(
      Effect.async<{ readonly answer: Promise<string>; readonly closed: Promise<void>; readonly socket: TLSSocket }>((resume) => {
        const socket = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false })
        let received = ""
        socket.on("error", () => undefined)
        const closed = new Promise<void>((done) => socket.on("close", () => done()))
        const answer = new Promise<string>((done) =>
          socket.on("data", (chunk) => {
            received += chunk.toString("latin1")
            if (received.endsWith("ok")) done(received)
          })
        )
        socket.on("secureConnect", () => {
          socket.write("GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
          resume(Effect.succeed({ answer, closed, socket }))
        })
      }),
      (connection) => Effect.sync(() => connection.socket.destroy())
    )

  it.scoped("over TLS too, a client still sending when the server closes gets every answer before the close, and a clean close", () =>
    Effect.gen(function* () {
      const tls = { cert: readFileSync(join(dir, "c.pem")), key: readFileSync(join(dir, "k.pem")) }
      const listener = yield* serveQuietly({ name: "tls", host: "127.0.0.1", port: 0, routes, tls, limits: { maxBodyBytes: 1024 } })
      const open = (port: number) => tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false })
      const big = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"
      const afterGarbage = yield* sendWhileReading(listener.port, `${big.repeat(4)}GARBAGE\r\n\r\n`, 512 * 1024, open)
      assert.deepStrictEqual(afterGarbage.received.match(/HTTP\/1\.1 \d+/g), Array(4).fill("HTTP/1.1 200"))
      assert.isTrue(afterGarbage.received.endsWith("x".repeat(64 * 1024)), "the last answer whole")
      assert.isFalse(afterGarbage.reset, "closed without a reset after a malformed request")
      const tooLarge = yield* sendWhileReading(listener.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n\r\n", 512 * 1024, open)
      assert.match(tooLarge.received, /^HTTP\/1\.1 413 /)
      assert.isFalse(tooLarge.reset, "closed without a reset after a 413")
    })
  )

  it.scoped("over TLS, a thousand requests (about four TLS records) pipelined in one write are all answered, in order (Node pauses its parser while answers back up)", () =>
    Effect.gen(function* () {
      const tls = { cert: readFileSync(join(dir, "c.pem")), key: readFileSync(join(dir, "k.pem")) }
      const counted: Array<number> = []
      const listener = yield* serveQuietly({ name: "tls", host: "127.0.0.1", port: 0, routes, tls, onAnswer: (_path, status) => void counted.push(status) })
      const requests = Array.from({ length: 1000 }, (_, i) => `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${String(i).length}\r\n\r\n${i}`).join("")
      const open = (port: number) => tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false })
      // The client reads until the last answer, then closes.
      const received = yield* Effect.async<string>((resume) => {
        const socket = open(listener.port)
        let text = ""
        socket.on("error", () => undefined)
        socket.on("data", (chunk) => {
          text += chunk.toString("latin1")
          if (text.endsWith("\r\n\r\n999")) socket.destroy()
        })
        socket.on("close", () => resume(Effect.succeed(text)))
        socket.write(requests)
        return Effect.sync(() => socket.destroy())
      }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("not every answer came") }))
      const bodies = received.split(/HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\n/).slice(1)
      assert.deepStrictEqual(bodies, Array.from({ length: 1000 }, (_, i) => String(i)))
      assert.lengthOf(counted, 1000)
      // A client that half-closes right after its requests gets every answer too, then the server's close.
      const halfClosed = yield* sendWhileReading(listener.port, requests, 0, open)
      assert.isFalse(halfClosed.reset)
      assert.lengthOf(halfClosed.received.match(/HTTP\/1\.1 200 OK/g) ?? [], 1000)
    })
  )

  it.scoped("the TLS connection idle the longest gives way; a newcomer is refused while every connection is fresh, and the server goes on", () =>
    Effect.gen(function* () {
      const tls = { cert: readFileSync(join(dir, "c.pem")), key: readFileSync(join(dir, "k.pem")) }
      const routes: RouteTable = new Map([["/small", { method: "GET", body: "none", handle: () => Either.right(text(200, "ok")) } satisfies WireRoute]])
      const listener = yield* serveQuietly({ name: "tls", host: "127.0.0.1", port: 0, routes, tls, limits: { maxConnections: 2, idleEvictionMs: 5_000 } })
      const a = yield* tlsGet(listener.port)
      yield* Effect.promise(() => a.answer)
      yield* TestClock.adjust("1 second")
      const b = yield* tlsGet(listener.port)
      yield* Effect.promise(() => b.answer)
      // Both fresh: a plain TCP connection (no handshake) is refused at once.
      const refused = connect(listener.port, "127.0.0.1")
      refused.on("error", () => undefined)
      yield* Effect.promise(() => new Promise<void>((done) => refused.on("close", () => done())))
      yield* TestClock.adjust("5 seconds")
      const c = yield* tlsGet(listener.port)
      assert.match(yield* Effect.promise(() => c.answer), /^HTTP\/1\.1 200 /)
      yield* Effect.promise(() => a.closed)
      assert.isFalse(b.socket.destroyed)
    })
  )

  it.scoped("over TLS too, a request body that stopped coming gives way at the cap once nothing of it came for 5 s (review 50 H1: the bodies were looked for under the TCP sockets)", () =>
    Effect.gen(function* () {
      const tls = { cert: readFileSync(join(dir, "c.pem")), key: readFileSync(join(dir, "k.pem")) }
      const routes: RouteTable = new Map<string, WireRoute>([
        ["/small", { method: "GET", body: "none", handle: () => Either.right(text(200, "ok")) }],
        ["/echo", { method: "POST", body: "json", handle: (request) => Either.right(text(200, JSON.stringify(request.body))) }]
      ])
      const bodyBudget = makeBodyBudget(64 * 1024 * 1024)
      const listener = yield* serveQuietly({ name: "tls", host: "127.0.0.1", port: 0, routes, tls, limits: { maxConnections: 2, idleEvictionMs: 5_000 }, bodyBudget })
      /** A TLS connection that sends a request's headers and 20 KB of its 100 KB body, then nothing. */
      const stalled = Effect.acquireRelease(
        Effect.async<{ readonly closed: Promise<void>; readonly socket: TLSSocket }>((resume) => {
          const socket = tlsConnect({ port: listener.port, host: "127.0.0.1", rejectUnauthorized: false })
          socket.on("error", () => undefined)
          const closed = new Promise<void>((done) => socket.on("close", () => done()))
          socket.on("secureConnect", () => {
            socket.write(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n${" ".repeat(20_000)}`)
            resume(Effect.succeed({ closed, socket }))
          })
        }),
        (connection) => Effect.sync(() => connection.socket.destroy())
      )
      /** Until the server has read a body past its free 16 KiB (it then charges the budget): the body is being read. */
      const untilHeld = (above: number) =>
        Effect.gen(function* () {
          while (bodyBudget.held <= above) yield* Effect.promise(() => new Promise((done) => setImmediate(done)))
          return bodyBudget.held
        })
      /** A newcomer's answer, or "refused" when its connection closes without one (before or after its handshake). */
      const newcomer = Effect.async<string>((resume) => {
        const socket = tlsConnect({ port: listener.port, host: "127.0.0.1", rejectUnauthorized: false })
        let received = ""
        let settled = false
        const settle = (text: string) => {
          if (settled) return
          settled = true
          resume(Effect.succeed(text))
        }
        socket.on("error", () => undefined)
        socket.on("secureConnect", () => socket.write("GET /small HTTP/1.1\r\nHost: x\r\n\r\n"))
        socket.on("data", (chunk) => {
          received += chunk.toString("latin1")
          if (received.endsWith("ok")) settle(received)
        })
        socket.on("close", () => settle(received === "" ? "refused" : received))
        return Effect.sync(() => socket.destroy())
      })
      const a = yield* stalled
      const heldByA = yield* untilHeld(0)
      const b = yield* stalled
      yield* untilHeld(heldByA)
      // A TLS body arrives a record at a time, after its reading began: the first look at the cap sees it moved, and a
      // newcomer is refused.
      assert.strictEqual(yield* newcomer, "refused")
      yield* TestClock.adjust("5 seconds")
      // Both stalled 5 s since that look, and no connection is idle: the first gives way to the newcomer, answered.
      assert.match(yield* newcomer, /^HTTP\/1\.1 200 /)
      yield* Effect.promise(() => a.closed)
      assert.isFalse(b.socket.destroyed)
    })
  )

  it.scoped("a connection that closed during its TLS handshake is no longer tracked: it never stands in for an idle one at the cap", () =>
    Effect.gen(function* () {
      const tls = { cert: readFileSync(join(dir, "c.pem")), key: readFileSync(join(dir, "k.pem")) }
      const routes: RouteTable = new Map([["/small", { method: "GET", body: "none", handle: () => Either.right(text(200, "ok")) } satisfies WireRoute]])
      const listener = yield* serveQuietly({ name: "tls", host: "127.0.0.1", port: 0, routes, tls, limits: { maxConnections: 1, idleEvictionMs: 5_000 } })
      yield* acceptedThenGone(listener, true)
      yield* TestClock.adjust("6 seconds")
      const a = yield* tlsGet(listener.port)
      assert.match(yield* Effect.promise(() => a.answer), /^HTTP\/1\.1 200 /)
      // A newcomer is refused before its handshake: the closed one is not there to give way for it.
      const b = tlsConnect({ port: listener.port, host: "127.0.0.1", rejectUnauthorized: false })
      b.on("error", () => undefined)
      yield* Effect.addFinalizer(() => Effect.sync(() => b.destroy()))
      const admitted = yield* Effect.promise(() => new Promise<boolean>((done) => (b.on("secureConnect", () => done(true)), b.on("close", () => done(false)))))
      assert.isFalse(admitted)
      assert.isFalse(a.socket.destroyed)
    })
  )

  it.scoped(
    "a client's FIN before its handshake is done closes the connection at once (no place held under the cap until the handshake timeout); after it, the answers still come",
    () =>
      Effect.gen(function* () {
        const tls = { cert: readFileSync(join(dir, "c.pem")), key: readFileSync(join(dir, "k.pem")) }
        const routes: RouteTable = new Map([["/small", { method: "GET", body: "none", handle: () => Either.right(text(200, "ok")) } satisfies WireRoute]])
        // Idle ones never give way here, and the handshake timeout is far: only the FIN can free the places.
        const limits = { maxConnections: 2, idleEvictionMs: 600_000, headersTimeoutMs: 600_000, requestTimeoutMs: 600_000 }
        const listener = yield* serveQuietly({ name: "tls", host: "127.0.0.1", port: 0, routes, tls, limits })
        // Two connect-and-close clients fill the cap: one sends nothing, one the first bytes of a ClientHello.
        for (const first of [null, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x50, 0x01])]) {
          const gone = connect(listener.port, "127.0.0.1")
          gone.on("error", () => undefined)
          yield* Effect.addFinalizer(() => Effect.sync(() => gone.destroy()))
          yield* Effect.promise(() => new Promise<void>((done) => gone.on("connect", () => done())))
          yield* untilConnections(listener, (open) => open >= 1)
          if (first === null) gone.end()
          else gone.end(first)
          // The server's side closes too: the client's socket closes only once the server's FIN arrives.
          yield* Effect.promise(() => new Promise<void>((done) => gone.on("close", () => done())))
          yield* untilConnections(listener, (open) => open === 0)
        }
        // Requests sent with the FIN right after the handshake are answered, then the connection closes.
        const halfClosed = yield* Effect.async<string>((resume) => {
          const socket = tlsConnect({ port: listener.port, host: "127.0.0.1", rejectUnauthorized: false })
          let received = ""
          socket.on("error", () => undefined)
          socket.on("data", (chunk) => void (received += chunk.toString("latin1")))
          socket.on("close", () => resume(Effect.succeed(received)))
          socket.write("GET /small HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2))
          socket.end()
          return Effect.sync(() => socket.destroy())
        })
        assert.deepStrictEqual(halfClosed.match(/HTTP\/1\.1 \d+/g), ["HTTP/1.1 200", "HTTP/1.1 200"])
        const a = yield* tlsGet(listener.port)
        assert.match(yield* Effect.promise(() => a.answer), /^HTTP\/1\.1 200 /)
      }),
    20_000
  )

  it.scoped("a connection still in its TLS handshake is idle from its accept and gives way once idle 5 s; a TLS connection whose handshake is done is judged by its requests", () =>
    Effect.gen(function* () {
      const tls = { cert: readFileSync(join(dir, "c.pem")), key: readFileSync(join(dir, "k.pem")) }
      const routes: RouteTable = new Map<string, WireRoute>([
        ["/small", { method: "GET", body: "none", handle: () => Either.right(text(200, "ok")) }],
        ["/echo", { method: "POST", body: "json", handle: (request) => Either.right(text(200, `${JSON.stringify(request.body)}ok`)) }]
      ])
      const listener = yield* serveQuietly({ name: "tls", host: "127.0.0.1", port: 0, routes, tls, limits: { maxConnections: 2, idleEvictionMs: 5_000 } })
      // Accepted first: a TLS connection that starts a request and sends its body slowly (busy, however long it takes).
      const busy = yield* Effect.acquireRelease(
        Effect.async<TLSSocket>((resume) => {
          const socket = tlsConnect({ port: listener.port, host: "127.0.0.1", rejectUnauthorized: false })
          socket.on("error", () => undefined)
          socket.on("secureConnect", () => resume(Effect.succeed(socket)))
        }),
        (socket) => Effect.sync(() => socket.destroy())
      )
      let busyReceived = ""
      // Its answer, or what it had when it closed.
      const busyAnswer = new Promise<string>((done) => {
        busy.on("data", (chunk) => {
          busyReceived += chunk.toString("latin1")
          if (busyReceived.endsWith("ok")) done(busyReceived)
        })
        busy.on("close", () => done(`closed after ${JSON.stringify(busyReceived)}`))
      })
      busy.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a"')
      // Then a TCP connection that never begins its handshake.
      const silent = connect(listener.port, "127.0.0.1")
      silent.on("error", () => undefined)
      const silentClosed = new Promise<void>((done) => silent.on("close", () => done()))
      yield* Effect.addFinalizer(() => Effect.sync(() => silent.destroy()))
      yield* Effect.promise(() => new Promise<void>((done) => silent.on("connect", () => done())))
      // Accepted by the server before the clock moves (its idle time counts from the accept).
      yield* untilConnections(listener, (open) => open >= 2)
      yield* TestClock.adjust("6 seconds")
      // The silent one gives way (a newcomer refused closes before its handshake); the busy one, accepted earlier, does not.
      const newcomer = tlsConnect({ port: listener.port, host: "127.0.0.1", rejectUnauthorized: false })
      newcomer.on("error", () => undefined)
      yield* Effect.addFinalizer(() => Effect.sync(() => newcomer.destroy()))
      const admitted = yield* Effect.promise(
        () => new Promise<boolean>((done) => (newcomer.on("secureConnect", () => done(true)), newcomer.on("close", () => done(false))))
      )
      assert.isTrue(admitted, "the newcomer got in")
      // The silent one was closed before the newcomer's handshake began; the busy one's answer needs a round trip more.
      busy.write(":1}")
      const first = yield* Effect.promise(() => Promise.race([silentClosed.then(() => "the silent one closed"), busyAnswer.then((answer) => `the busy one answered: ${answer}`)]))
      assert.strictEqual(first, "the silent one closed")
      assert.match(yield* Effect.promise(() => busyAnswer), /^HTTP\/1\.1 200 [^]*\{"a":1\}ok$/)
    })
  )
})

describe("a taken port", () => {
  it.scoped("is tried again bindAttempts times, said once as a warning with how long, each later try at debug level, none after the last", () => {
    const logs = capturedLogs(LogLevel.Debug)
    return Effect.gen(function* () {
      const holder = yield* Effect.acquireRelease(
        Effect.async<Server>((resume) => {
          const server = createNetServer()
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const port = (holder.address() as AddressInfo).port
      const bound = yield* Effect.fork(Effect.either(serve({ name: "test", host: "127.0.0.1", port, routes: new Map(), bindAttempts: 3, bindRetryDelay: "1 second", bindRetrySetting: "BIND_RETRY_SECONDS" })))
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(bound)
      assert.isTrue(Either.isLeft(result))
      const taken = `test: cannot listen on 127.0.0.1:${port}: EADDRINUSE`
      assert.deepStrictEqual(
        logs.lines.map((line) => `${line.level} ${String(line.message[0])}`),
        [`WARN ${taken}; trying again every 1 s for up to 2 s (BIND_RETRY_SECONDS)`, `DEBUG ${taken}; trying again (try 3 of 3)`]
      )
    }).pipe(Effect.provide(logs.layer))
  })
})

describe("large bodies, parsed one per turn of the loop", () => {
  /** The listener's queue of large parses, turned by hand: `turn` runs the parse whose turn it is. */
  const handTurned = () => {
    const booked: Array<() => void> = []
    return { turns: new OnePerTurn((run) => void booked.push(run)), turn: () => booked.shift()?.() }
  }
  /** A listener whose `/record` keeps the `name` of each body it runs, in the order they run. */
  const recording = (turns: OnePerTurn, bodyBudget = makeBodyBudget(64 * 1024 * 1024)) =>
    Effect.gen(function* () {
      const names: Array<string> = []
      const routes: RouteTable = new Map<string, WireRoute>([
        ["/record", { method: "POST", body: "json", handle: (request) => ((names.push(String((request.body as { name?: unknown }).name)), Either.right(text(200, "ok")))) }]
      ])
      const listener = yield* serveQuietly({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { maxBodyBytes: 1024 * 1024 }, bodyBudget, turns })
      return { listener, names, bodyBudget }
    })
  const post = (name: string, padding: number) => {
    const body = JSON.stringify({ name, pad: "x".repeat(padding) })
    return `POST /record HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
  }
  const until = (what: string, done: () => boolean) =>
    Effect.repeat(Effect.sync(done), { until: (ok) => ok, schedule: Schedule.spaced("5 millis") }).pipe(
      Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error(`not ${what}`) })
    )
  const opened = (port: number) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const socket = connect(port, "127.0.0.1")
        socket.on("error", () => undefined)
        let received = ""
        socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")))
        return { socket, received: () => received }
      }),
      ({ socket }) => Effect.sync(() => socket.destroy())
    )

  it.live("a body over 16 KiB waits for its turn, and a small one pipelined behind it on its connection waits behind it: they take effect, and are answered, in order (review 57 L2, L3)", () =>
    Effect.gen(function* () {
      const { turns, turn } = handTurned()
      const { listener, names } = yield* recording(turns)
      const client = yield* opened(listener.port)
      client.socket.write(post("large", 100 * 1024) + post("small", 0))
      // Both wait: the small one ran at once before (review 57 L2), and took effect first.
      yield* until("both waiting", () => turns.size === 2)
      assert.deepStrictEqual(names, [], "nothing parsed before its turn")
      turn()
      assert.deepStrictEqual(names, ["large"])
      turn()
      assert.deepStrictEqual(names, ["large", "small"])
      yield* until("both answered", () => (client.received().match(/HTTP\/1\.1 200 /g) ?? []).length === 2)
      // Once they have run, a small body on that connection is run at once again, and one on another never waited.
      client.socket.write(post("after", 0))
      yield* until("the next run at once", () => names.length === 3)
      const other = yield* opened(listener.port)
      other.socket.write(post("other", 0))
      yield* until("the other run at once", () => names.length === 4)
      assert.strictEqual(turns.size, 0)
    }).pipe(Effect.scoped)
  )

  it.live("bodies under 16 KiB on many connections are parsed as they come only within a turn's allowance (256 KiB); the rest wait their turn (review 57 M1)", () =>
    Effect.gen(function* () {
      const { turns, turn } = handTurned()
      const { listener, names } = yield* recording(turns)
      // 15 KiB each, under the large size: 40 of them are 600 KiB of JSON, all parsed in one turn before.
      const clients = yield* Effect.all(Array.from({ length: 40 }, () => opened(listener.port)))
      for (const [index, client] of clients.entries()) client.socket.write(post(`c${index}`, 15 * 1024))
      yield* until("all read", () => names.length + turns.size === 40)
      assert.isAtMost(names.length, 17, "at most 256 KiB parsed before the loop turned")
      assert.isAtLeast(names.length, 16)
      while (turns.size > 0) turn()
      assert.lengthOf(names, 40)
    }).pipe(Effect.scoped)
  )

  it.live("a body waiting for its turn holds its share of the budget; its client gone before the turn, the share is given back and nothing runs", () =>
    Effect.gen(function* () {
      const { turns, turn } = handTurned()
      const { listener, names, bodyBudget } = yield* recording(turns)
      const client = yield* opened(listener.port)
      client.socket.write(post("gone", 100 * 1024))
      yield* until("waiting", () => turns.size === 1)
      assert.isAbove(bodyBudget.held, 0, "held while it waits")
      client.socket.destroy()
      yield* untilConnections(listener, (open) => open === 0)
      turn()
      assert.deepStrictEqual(names, [])
      assert.strictEqual(bodyBudget.held, 0)
    }).pipe(Effect.scoped)
  )
})
