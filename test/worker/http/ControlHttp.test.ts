import { assert, describe, it } from "@effect/vitest"
import { CloseView, ReleaseAnswer } from "../../../src/protocol/control.js"
import { CreateSessionAnswer } from "../../../src/protocol/session.js"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Fiber, Option, Queue, Schema } from "effect"
import { MAX_WAITING_POLLS } from "../../../src/worker/http/ControlRoutes.js"
import { authData } from "../../support/sessions.js"
import { call, decodeReply, startReceiver, startWorker } from "../../support/worker.js"

const createBody = (payload: Record<string, unknown> = {}) => ({ auth_data: authData(), payload: { lifetime: 60, ...payload } })

describe("control server", () => {
  it.scoped("/release with nothing open is a no-op", () =>
    Effect.gen(function* () {
      const { controlUrl } = yield* startWorker()
      const reply = yield* call(controlUrl, "/release")
      assert.strictEqual(reply.status, 200)
      assert.deepStrictEqual(reply.json, { released: false, reason: "no active session" })
    })
  )

  it.scoped("/release closes every open session, posts its callback, and a later /session/end gets 410", () =>
    Effect.gen(function* () {
      const receiver = yield* startReceiver()
      const { controlUrl, publicUrl } = yield* startWorker({ maxSessions: 2 })
      const ids: Array<string> = []
      for (const job of ["a", "b"]) {
        const created = yield* call(publicUrl, "/session/create", {
          body: createBody({ on_close_route: receiver.url, on_close_payload: { job } })
        })
        ids.push(decodeReply(CreateSessionAnswer, created).session_id)
      }
      const reply = yield* call(controlUrl, "/release")
      assert.strictEqual(reply.status, 200)
      const released = decodeReply(ReleaseAnswer, reply)
      assert.isTrue(released.released)
      assert.sameMembers(released.released ? [...released.session_ids] : [], ids)
      const bodies = [yield* Queue.take(receiver.received), yield* Queue.take(receiver.received)].map((r) => r.body)
      assert.sameDeepMembers(bodies, [
        { job: "a", session_id: ids[0], close_reason: "released", generation: 1 },
        { job: "b", session_id: ids[1], close_reason: "released", generation: 2 }
      ])
      const late = yield* call(publicUrl, "/session/end", { body: { session_id: ids[0], session_auth: authData() } })
      assert.strictEqual(late.status, 410)
    })
  )

  it.scoped.each(["\n", "\r\n", " \t "])("/release with a body of white space only (%j, as a piped empty line sends) is no body: every session is released", (body) =>
    Effect.gen(function* () {
      const { controlUrl, publicUrl } = yield* startWorker({ maxSessions: 2 })
      const ids: Array<string> = []
      for (let i = 0; i < 2; i++) ids.push(decodeReply(CreateSessionAnswer, yield* call(publicUrl, "/session/create", { body: createBody() })).session_id)
      const reply = yield* call(controlUrl, "/release", { body })
      assert.strictEqual(reply.status, 200, reply.text)
      const released = decodeReply(ReleaseAnswer, reply)
      assert.sameMembers(released.released ? [...released.session_ids] : [], ids)
      // White space around a value is still the value: a generation given so releases that session only.
      const kept = decodeReply(CreateSessionAnswer, yield* call(publicUrl, "/session/create", { body: createBody() }))
      const other = decodeReply(CreateSessionAnswer, yield* call(publicUrl, "/session/create", { body: createBody() }))
      const one = yield* call(controlUrl, "/release", { body: `${body}{"generation": ${other.generation}}${body}` })
      assert.deepStrictEqual(decodeReply(ReleaseAnswer, one), { released: true, session_ids: [other.session_id] })
      const left = yield* call(controlUrl, "/sessions", { method: "GET" })
      assert.include(left.text, kept.session_id)
    })
  )

  it.scoped("/release with a body that is not JSON releases nothing, and its 422 says so, naming the body and the shapes it takes (newcomer 37 #5); a public route's keeps the protocol's words", () =>
    Effect.gen(function* () {
      const { controlUrl, publicUrl } = yield* startWorker({ maxSessions: 2 })
      const created = decodeReply(CreateSessionAnswer, yield* call(publicUrl, "/session/create", { body: createBody() }))
      for (const body of ["x", "{session_id: 1}"]) {
        const reply = yield* call(controlUrl, "/release", { body })
        assert.strictEqual(reply.status, 422, reply.text)
        assert.deepStrictEqual(reply.json, {
          error: 'body: not JSON, so nothing was released; send no body (every open session), {}, {"generation": n} or {"session_id": "…"}',
          field: "body"
        })
      }
      const left = yield* call(controlUrl, "/sessions", { method: "GET" })
      assert.include(left.text, created.session_id)
      const publicRefusal = yield* call(publicUrl, "/session/end", { body: "x" })
      assert.deepStrictEqual([publicRefusal.status, publicRefusal.json], [422, { error: "invalid JSON" }])
    })
  )

  it.scoped("/recycle with a body of white space only is no body: recycled with the default reason", () =>
    Effect.gen(function* () {
      const { controlUrl } = yield* startWorker()
      const reply = yield* call(controlUrl, "/recycle", { body: "\r\n" })
      assert.strictEqual(reply.status, 200, reply.text)
      assert.deepStrictEqual(reply.json, { recycled: true, error_msg: "Recycled by the consumer", session_ids: [] })
    })
  )

  it.scoped.each([
    ["plain text (curl -d 'disk full')", "disk full", "disk full"],
    ["a JSON text", JSON.stringify("disk full"), "disk full"],
    ["a reason that is null", JSON.stringify({ reason: null }), ""],
    ["a reason that is a number", JSON.stringify({ reason: 5 }), "5"],
    ["a reason that is an object", JSON.stringify({ reason: { disk: "full" } }), '{"disk":"full"}'],
    ["a JSON array", JSON.stringify(["disk", "full"]), '["disk","full"]'],
    ["JSON cut short (a request meant elsewhere: not echoed)", '{"reason": "disk fu', ""],
    ["a reason of 1,001 characters", JSON.stringify({ reason: "x".repeat(1001) }), `${"x".repeat(1000)}… (cut: 1001 characters in all)`],
    ["a reason cut after an emoji, counted as one character", JSON.stringify({ reason: `${"x".repeat(999)}😀😀` }), `${"x".repeat(999)}😀… (cut: 1001 characters in all)`],
    ["an object without a reason", JSON.stringify({ msg: "disk full" }), ""],
    ["JSON nested past the worker's depth (not echoed)", `${"[".repeat(80)}${"]".repeat(80)}`, ""]
  ] as const)("/recycle with %s recycles, the reason read as well as it can be (probe 58 #5: refused, the broken instance served on)", ([, body, reason]) =>
    Effect.gen(function* () {
      const { controlUrl, publicUrl } = yield* startWorker()
      const reply = yield* call(controlUrl, "/recycle", { body })
      assert.strictEqual(reply.status, 200, reply.text)
      assert.deepStrictEqual(reply.json, { recycled: true, error_msg: `Recycled by the consumer${reason === "" ? "" : `: ${reason}`}`, session_ids: [] })
      assert.strictEqual((yield* call(publicUrl, "/session/create", { body: createBody() })).status, 429)
    })
  )

  it.scoped("/recycle with bytes that are not UTF-8 recycles, its reason read as text (review 65 #7)", () =>
    Effect.gen(function* () {
      const { controlUrl } = yield* startWorker()
      const reply = yield* rawCall(controlUrl, "POST", "/recycle", { "content-type": "text/plain" }, Buffer.from([0x64, 0x69, 0x73, 0x6b, 0xff, 0x21]))
      assert.strictEqual(reply.status, 200, reply.text)
      assert.deepStrictEqual(JSON.parse(reply.text), { recycled: true, error_msg: "Recycled by the consumer: disk\uFFFD!", session_ids: [] })
    })
  )

  it.scoped("stub /health answers ok when BACKEND_HEALTH_URL is unset, and is absent when it is set", () =>
    Effect.gen(function* () {
      const stub = yield* startWorker()
      const health = yield* call(stub.controlUrl, "/health", { method: "GET" })
      assert.strictEqual(health.status, 200)
      assert.strictEqual(health.text, "ok")
      const pointed = yield* startWorker({ backendHealthUrl: Option.some("http://127.0.0.1:9090/health") })
      assert.strictEqual((yield* call(pointed.controlUrl, "/health", { method: "GET" })).status, 404)
    })
  )

  it.scoped(`at most ${MAX_WAITING_POLLS} long polls wait at once; one more is answered at once with the state as it is`, () =>
    Effect.gen(function* () {
      const { controlUrl, publicUrl } = yield* startWorker()
      const poll = call(controlUrl, "/sessions?index=0&wait=300", { method: "GET" })
      const polls = yield* Effect.forEach(Array.from({ length: MAX_WAITING_POLLS + 1 }), () => Effect.fork(poll))
      // The first answer comes while nothing has changed: the poll that found the others waiting.
      const first = yield* Effect.raceAll(polls.map(Fiber.join))
      assert.deepInclude(first.json, { sessions: [], index: 0 })
      yield* call(publicUrl, "/session/create", { body: createBody() })
      const indexes = (yield* Effect.forEach(polls, Fiber.join)).map((reply) => (reply.json as { readonly index: number }).index)
      assert.deepStrictEqual([indexes.filter((index) => index === 0).length, indexes.filter((index) => index === 1).length], [1, MAX_WAITING_POLLS])
    })
  )

  it.scoped("/sessions reads wait and index in decimal digits only, and no other parameter; anything else is a 422 naming the parameter", () =>
    Effect.gen(function* () {
      const { controlUrl } = yield* startWorker()
      const digits = "must be a whole number in decimal digits"
      const seconds = "must be a number of seconds in decimal digits"
      const cases = [
        ["wait=0x10", "wait", seconds],
        ["wait=1e2", "wait", seconds],
        ["wait=%207", "wait", seconds],
        ["wait=301", "wait", "must be at most 300 (seconds)"],
        ["index=-1", "index", digits],
        ["index=0x1", "index", digits],
        ["index=9007199254740993", "index", "must be at most 9007199254740991"],
        ["index=1&index=2", "index", "given more than once"],
        ["wait=1&index=1&wait=2", "wait", "given more than once"],
        // A typo, or a wait with nothing to wait for a change from, would turn a long poll into a plain read (review 39 L1).
        ["index=0&wiat=30", "wiat", "unknown parameter (/sessions takes index and wait)"],
        ["Index=0&wait=30", "Index", "unknown parameter (/sessions takes index and wait)"],
        ["wait=30", "wait", "needs index, the state to wait for a change from (the index of an earlier answer)"]
      ] as const
      for (const [query, parameter, message] of cases) {
        const reply = yield* call(controlUrl, `/sessions?${query}`, { method: "GET" })
        assert.strictEqual(reply.status, 422, query)
        assert.deepInclude(reply.json, { error: `query ${parameter}: ${message}`, field: `query.${parameter}` }, query)
      }
      assert.strictEqual((yield* call(controlUrl, "/sessions?wait=0.5&index=7", { method: "GET" })).status, 200)
    })
  )

  it.live("long polls pipelined on one connection stop waiting when their client goes away", () =>
    Effect.gen(function* () {
      const { controlUrl } = yield* startWorker()
      const waiting = Effect.map(call(controlUrl, "/debug", { method: "GET" }), (reply) => (reply.json as { readonly long_polls: { readonly waiting: number } }).long_polls.waiting)
      /** The waiting count once it is `expected` (polled every 20 ms), or the last one seen after 5 s. */
      const until = (expected: number) =>
        Effect.gen(function* () {
          let count = yield* waiting
          for (let tries = 0; count !== expected && tries < 250; tries++) {
            yield* Effect.sleep("20 millis")
            count = yield* waiting
          }
          return count
        })
      const socket = connect(Number(new URL(controlUrl).port), "127.0.0.1")
      socket.on("error", () => undefined)
      // Past Node's 10 listeners for one event: the socket's close is watched once, whatever the number of polls.
      const warnings: Array<string> = []
      const onWarning = (warning: Error) => void warnings.push(warning.name)
      process.on("warning", onWarning)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.off("warning", onWarning)))
      socket.write("GET /sessions?index=0&wait=300 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(30))
      assert.strictEqual(yield* until(30), 30)
      socket.destroy()
      assert.strictEqual(yield* until(0), 0)
      assert.deepStrictEqual(warnings, [])
    }).pipe(Effect.scoped)
  )

  it.scoped("/debug says stopping from a drain's start, an errored worker's too (its mode stays errored): what start-vast.sh asks before it takes a consumer's exit for a failure (review 38 L1)", () =>
    Effect.gen(function* () {
      const { controlUrl, pool } = yield* startWorker()
      const debug = Effect.map(call(controlUrl, "/debug", { method: "GET" }), (reply) => {
        const { mode, stopping } = reply.json as { readonly mode: string; readonly stopping: boolean }
        return [mode, stopping]
      })
      assert.deepStrictEqual(yield* debug, ["serving", false])
      yield* pool.errored
      assert.deepStrictEqual(yield* debug, ["errored", false])
      yield* pool.retire
      assert.deepStrictEqual(yield* debug, ["errored", true])
      assert.include((yield* call(controlUrl, "/debug", { method: "GET" })).text, '"stopping":true')
    })
  )

  it.scoped("/debug and /metrics pipelined by a client that reads nothing: while the first's answer waits, the others are not built but refused with a 429 that says why (probe 52 L4)", () =>
    Effect.gen(function* () {
      const { controlUrl } = yield* startWorker()
      const socket = connect(Number(new URL(controlUrl).port), "127.0.0.1")
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      socket.pause()
      let received = ""
      socket.on("data", (chunk: Buffer) => void (received += chunk.toString("latin1")))
      const closed = Effect.async<void>((resume) => void socket.on("close", () => resume(Effect.void)))
      const get = (path: string, last = false) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${last ? "Connection: close\r\n" : ""}\r\n`
      socket.write(get("/debug") + get("/debug") + get("/metrics") + get("/debug", true))
      // All answered, if not taken (the /metrics among them before the last /debug): the worker's own count of its
      // answers, asked on other connections.
      const debugAnswers = (text: string) => [...text.matchAll(/null_worker_requests_total\{route="\/debug",status="\d+"\} (\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0)
      while (debugAnswers((yield* call(controlUrl, "/metrics", { method: "GET" })).text) < 3) yield* Effect.yieldNow()
      socket.resume()
      yield* closed
      const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => match[1])
      assert.deepStrictEqual(statuses, ["200", "429", "429", "429"])
      assert.include(received, '{"error":"/debug: an earlier answer on this connection has not been read yet; read it before asking again"}')
      assert.include(received, '{"error":"/metrics: an earlier answer on this connection has not been read yet; read it before asking again"}')
    })
  )

  it.scoped("/debug shows slots, closes and callbacks but never a secret", () =>
    Effect.gen(function* () {
      const receiver = yield* startReceiver()
      const { controlUrl, publicUrl } = yield* startWorker({ maxSessions: 2 })
      const secret = authData({ signature: "U0VDUkVULVNJR05BVFVSRQ==", __request_id: "secret-request-id" })
      const first = yield* call(publicUrl, "/session/create", {
        body: { auth_data: secret, payload: { lifetime: 30, on_close_route: receiver.url } }
      })
      const firstId = decodeReply(CreateSessionAnswer, first).session_id
      yield* call(publicUrl, "/session/end", { body: { session_id: firstId, session_auth: secret } })
      yield* Queue.take(receiver.received)
      const second = yield* call(publicUrl, "/session/create", { body: { auth_data: secret, payload: { lifetime: 30 } } })
      const secondId = decodeReply(CreateSessionAnswer, second).session_id
      const reply = yield* call(controlUrl, "/debug", { method: "GET" })
      assert.strictEqual(reply.status, 200)
      assert.notInclude(reply.text, "U0VDUkVULVNJR05BVFVSRQ==")
      assert.notInclude(reply.text, "secret-request-id")
      assert.notInclude(reply.text, "auth_data")
      const debug = reply.json as {
        slots: Array<{ state: string; session: { session_id: string; lifetime: number; remaining_ms: number } | null }>
        recent_closes: unknown
        callbacks: { deliveries: Array<{ session_id: string; reason: string }> }
        config: { max_sessions: number }
      }
      assert.deepStrictEqual(debug.slots.map((slot) => slot.state).sort(), ["idle", "reserved"])
      const open = debug.slots.find((slot) => slot.session !== null)?.session
      assert.strictEqual(open?.session_id, secondId)
      assert.strictEqual(open?.lifetime, 30)
      assert.strictEqual(open?.remaining_ms, 30_000)
      const closes = Schema.decodeUnknownSync(Schema.Array(CloseView))(debug.recent_closes)
      assert.deepStrictEqual(closes.map((c) => [c.session_id, c.reason, c.generation]), [[firstId, "ended", 1]])
      assert.deepStrictEqual(debug.callbacks.deliveries.map((c) => [c.session_id, c.reason]), [[firstId, "ended"]])
      assert.strictEqual(debug.config.max_sessions, 2)
    })
  )

  it.scoped("/debug after a journal replayed over CALLBACK_MAX_PENDING: every callback counted as pending, the first max_pending listed, the rest counted", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "null-worker-debug-journal-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const journal = join(dir, "outbox.jsonl")
      // Left by an earlier process: five callbacks to a port where nothing listens (each waits for its retry).
      const ids = ["a", "b", "c", "d", "e"]
      writeFileSync(
        journal,
        ids.map((id) => JSON.stringify({ op: "pending", callback: { session_id: id, generation: 1, route: `http://127.0.0.1:9/${id}`, body: "{}", reason: "ended" } })).join("\n") + "\n"
      )
      const { controlUrl } = yield* startWorker({ outboxFile: Option.some(journal), callbackMaxPending: 2 })
      const debug = Schema.decodeUnknownSync(
        Schema.Struct({
          callbacks: Schema.Struct({
            pending: Schema.Number,
            max_pending: Schema.Number,
            pending_not_listed: Schema.Number,
            deliveries: Schema.Array(Schema.Struct({ session_id: Schema.String }))
          })
        })
      )((yield* call(controlUrl, "/debug", { method: "GET" })).json)
      assert.deepStrictEqual(debug.callbacks, {
        pending: 5,
        max_pending: 2,
        pending_not_listed: 3,
        deliveries: [{ session_id: "a" }, { session_id: "b" }]
      })
    })
  )

  it.scoped("/sessions lists the open sessions with their times and nothing secret", () =>
    Effect.gen(function* () {
      const { controlUrl, publicUrl } = yield* startWorker({ maxSessions: 2 })
      assert.deepStrictEqual((yield* call(controlUrl, "/sessions", { method: "GET" })).json, { sessions: [], draining: false, index: 0 })
      const created = yield* call(publicUrl, "/session/create", { body: createBody({ lifetime: 30 }) })
      const id = decodeReply(CreateSessionAnswer, created).session_id
      const reply = yield* call(controlUrl, "/sessions", { method: "GET" })
      assert.deepStrictEqual(reply.json, {
        sessions: [{ session_id: id, generation: 1, created_at: 0, expires_at: 30, cost: 100, request_idx: 4242 }],
        draining: false,
        index: 1
      })
      assert.notInclude(reply.text, "signature")
    })
  )

  it.scoped("unknown control paths get 404 and wrong methods 405; HEAD is a GET route's answer without its body", () =>
    Effect.gen(function* () {
      const { controlUrl } = yield* startWorker()
      assert.strictEqual((yield* call(controlUrl, "/release", { method: "GET" })).status, 405)
      assert.strictEqual((yield* call(controlUrl, "/release", { method: "HEAD" })).status, 405)
      const head = yield* call(controlUrl, "/sessions", { method: "HEAD" })
      assert.deepStrictEqual([head.status, head.text], [200, ""])
      assert.strictEqual((yield* call(controlUrl, "/session/create", { body: {} })).status, 404)
    })
  )

  it.scoped("a web page cannot drive it: a request with an Origin, cross-site fetch metadata or a Host that is not loopback gets 403 naming the header, and nothing changes", () =>
    Effect.gen(function* () {
      const { controlUrl, publicUrl } = yield* startWorker()
      const created = decodeReply(CreateSessionAnswer, yield* call(publicUrl, "/session/create", { body: createBody() }))
      const { port } = new URL(controlUrl)
      // What a page sends with `fetch(…, { mode: "no-cors" })`: a text/plain POST, no preflight.
      const page = { "content-type": "text/plain;charset=UTF-8", host: `127.0.0.1:${port}` }
      const refusals = [
        ["POST", "/release", { ...page, origin: "http://evil.example" }, "origin"],
        ["POST", "/recycle", { ...page, "sec-fetch-site": "cross-site" }, "sec-fetch-site"],
        ["GET", "/debug", { host: `rebind.evil.example:${port}` }, "host"],
        ["GET", "/no-such-path", { host: "evil.example" }, "host"]
      ] as const
      for (const [method, path, headers, field] of refusals) {
        const reply = yield* rawCall(controlUrl, method, path, headers, path === "/recycle" ? JSON.stringify({ reason: "from a web page" }) : undefined)
        assert.strictEqual(reply.status, 403, `${method} ${path}`)
        assert.strictEqual((JSON.parse(reply.text) as { readonly field: string }).field, field, `${method} ${path}`)
      }
      // A target in absolute form names the host it is for, in place of Host (RFC 9112 §3.2.2; probe 44 F3).
      const absolute = (authority: string) =>
        Effect.async<{ readonly status: number; readonly text: string }>((resume) => {
          const request = httpRequest({ host: "127.0.0.1", port, path: `http://${authority}/debug`, headers: { host: `127.0.0.1:${port}` } }, (response) => {
            let text = ""
            response.setEncoding("utf8")
            response.on("data", (chunk: string) => (text += chunk))
            response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, text })))
          })
          request.on("error", (error) => resume(Effect.die(error)))
          request.end()
        })
      const rebound = yield* absolute("evil.example")
      assert.deepStrictEqual([rebound.status, (JSON.parse(rebound.text) as { readonly field: string }).field], [403, "host"])
      assert.strictEqual((yield* absolute(`localhost:${port}`)).status, 200)
      // The session is still open, and the worker still takes sessions.
      const debug = yield* rawCall(controlUrl, "GET", "/debug", { host: `localhost:${port}`, "sec-fetch-site": "none" })
      assert.strictEqual(debug.status, 200)
      assert.include(debug.text, created.session_id)
      assert.notInclude(debug.text, "Recycled")
      const released = yield* rawCall(controlUrl, "POST", "/release", { host: `127.0.0.1:${port}` })
      assert.strictEqual(released.status, 200)
      assert.deepStrictEqual(Schema.decodeUnknownSync(ReleaseAnswer)(JSON.parse(released.text)), { released: true, session_ids: [created.session_id] })
    })
  )

  it.scoped("a header after 2,000 others is seen: an Origin there gets 403 too (probe 51 L6: Node showed the first 2,000 only)", () =>
    Effect.gen(function* () {
      const { controlUrl, publicUrl } = yield* startWorker()
      yield* call(publicUrl, "/session/create", { body: createBody() })
      const { port } = new URL(controlUrl)
      const status = yield* Effect.async<string>((resume) => {
        const socket = connect(Number(port), "127.0.0.1")
        let text = ""
        socket.setEncoding("utf8")
        socket.on("data", (chunk: string) => {
          text += chunk
          if (text.includes("\r\n")) {
            resume(Effect.succeed(text.slice(0, text.indexOf("\r\n"))))
            socket.destroy()
          }
        })
        socket.on("error", (error) => resume(Effect.die(error)))
        socket.write(`POST /release HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${"x:1\r\n".repeat(2000)}Origin: http://evil.example\r\nContent-Length: 0\r\n\r\n`)
      })
      assert.strictEqual(status, "HTTP/1.1 403 Forbidden")
      const sessions = (yield* call(controlUrl, "/sessions", { method: "GET" })).json as { readonly sessions: ReadonlyArray<unknown> }
      assert.lengthOf(sessions.sessions, 1, "nothing released")
    })
  )
})

/** A request with exactly these headers (fetch would set some of its own): its status and text. */
const rawCall = (base: string, method: string, path: string, headers: Record<string, string>, body?: string | Buffer) =>
  Effect.async<{ readonly status: number; readonly text: string }>((resume) => {
    const request = httpRequest(new URL(path, base), { method, headers: body === undefined ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) } }, (response) => {
      let text = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (text += chunk))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, text })))
    })
    request.on("error", (error) => resume(Effect.die(error)))
    request.end(body)
  })
