import { request as httpRequest } from "node:http"
import { CreateSessionAnswer, ErrorAnswer, SessionHealthAnswer, SessionInfoAnswer } from "../../../src/protocol/session.js"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Queue, TestClock } from "effect"
import { MAX_LIFETIME_SECONDS } from "../../../src/protocol/session.js"
import { keepPayload, keptCallbackText, LONGEST_CLOSE, MAX_CALLBACK_BYTES } from "../../../src/protocol/callback.js"
import { authData } from "../../support/sessions.js"
import { call, decodeReply, startReceiver, startWorker } from "../../support/worker.js"
import { freePort } from "../../support/process.js"

/**
 * A POST written with node:http rather than fetch: a request target sent as given (absolute form too), a body sent as
 * raw bytes or in chunks with no content-length. Its status and text.
 */
const rawPost = (
  publicUrl: string,
  parts: ReadonlyArray<string | Buffer>,
  options: { readonly target?: string; readonly headers?: Record<string, string> } = {}
) =>
  Effect.promise(
    () =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const url = new URL(publicUrl)
        const headers = options.headers ?? { "content-type": "application/json" }
        // `path` is written to the request line as given.
        const path = options.target ?? "/session/create"
        const request = httpRequest({ host: url.hostname, port: url.port, method: "POST", path, headers }, (response) => {
          let text = ""
          response.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
          response.on("end", () => resolve({ status: response.statusCode ?? 0, text }))
        })
        request.on("error", reject)
        for (const part of parts) request.write(part)
        request.end()
      })
  )

const createBody = (payload: Record<string, unknown> = {}, auth: Record<string, unknown> = authData()) => ({
  auth_data: auth,
  payload: { lifetime: 60, ...payload },
  session_id: null
})

const create = (base: string, payload: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const reply = yield* call(base, "/session/create", { body: createBody(payload) })
    assert.strictEqual(reply.status, 201, reply.text)
    const body = decodeReply(CreateSessionAnswer, reply)
    return body.session_id
  })

describe("public API: /session/create", () => {
  it.scoped("201 with a 13-character id and the expiration in epoch seconds; 429 with an empty body when full", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      yield* TestClock.setTime(1_786_000_000_000)
      const reply = yield* call(publicUrl, "/session/create", { body: createBody({ lifetime: 600 }) })
      assert.strictEqual(reply.status, 201)
      // aiohttp's json_response content type (vast-protocol.md §2.1).
      assert.strictEqual(reply.headers.get("content-type"), "application/json; charset=utf-8")
      const { expiration, session_id } = decodeReply(CreateSessionAnswer, reply)
      assert.match(session_id, /^[A-Za-z0-9]{13}$/)
      assert.strictEqual(expiration, 1_786_000_600)
      const full = yield* call(publicUrl, "/session/create", { body: createBody() })
      assert.strictEqual(full.status, 429)
      assert.strictEqual(full.text, "")
    })
  )

  it.scoped("defaults: lifetime 60 s, no payload at all, cost as a numeric string, query string ignored", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker({ maxSessions: 2 })
      const bare = yield* call(publicUrl, "/session/create?api_key=abc", { body: { auth_data: authData({ cost: "100" }) } })
      assert.strictEqual(bare.status, 201, bare.text)
      assert.strictEqual(decodeReply(CreateSessionAnswer, bare).expiration, 60)
      const nulls = yield* call(publicUrl, "/session/create", {
        body: { auth_data: authData(), payload: { lifetime: null, on_close_route: null, on_close_payload: null } }
      })
      assert.strictEqual(nulls.status, 201, nulls.text)
    })
  )

  const malformed: ReadonlyArray<[string, string | object, number, string]> = [
    ["not JSON", "{", 422, "invalid JSON"],
    ["an empty body", "", 422, "invalid JSON"],
    ["a body of white space only, taken as none", " \r\n\t", 422, "invalid JSON"],
    ["white space then a stray character", " \n x", 422, "invalid JSON"],
    ["an array", "[]", 422, "body"],
    ["null", "null", 422, "body"],
    ["a string", '"x"', 422, "body"],
    ["no auth_data", { payload: {} }, 422, "auth_data"],
    ["auth_data null", { auth_data: null }, 422, "auth_data: must be a JSON object, got null"],
    ["auth_data an array", { auth_data: [] }, 422, "auth_data: must be a JSON object, got an array"],
    ["auth_data without signature", { auth_data: { ...authData(), signature: undefined } }, 422, "auth_data.signature"],
    ["auth_data without cost", { auth_data: { ...authData(), cost: undefined } }, 422, "auth_data.cost"],
    ["a cost that is not a number", { auth_data: authData({ cost: "abc" }) }, 422, "auth_data.cost: must be a number from 0 to 1000000, or such a number as a string"],
    ["a cost in hex", { auth_data: authData({ cost: "0x10" }) }, 422, "auth_data.cost"],
    ["a cost in binary", { auth_data: authData({ cost: "0b11" }) }, 422, "auth_data.cost"],
    // A cost as a string is held to the same range as a number (review 43 L6a).
    ["a negative cost as a string", { auth_data: authData({ cost: "-1" }) }, 422, "auth_data.cost: must be a number from 0 to 1000000, or such a number as a string"],
    ["a cost over the limit as a string", { auth_data: authData({ cost: "1000001" }) }, 422, "auth_data.cost: must be a number from 0 to 1000000, or such a number as a string"],
    ["a negative cost", { auth_data: authData({ cost: -1 }) }, 422, "auth_data.cost"],
    ["reqnum as a string", { auth_data: authData({ reqnum: "917" }) }, 422, "auth_data.reqnum"],
    ["a payload that is not an object", { auth_data: authData(), payload: "x" }, 422, "payload: must be a JSON object, got a string"],
    ["lifetime 0", createBody({ lifetime: 0 }), 422, "payload.lifetime"],
    ["a negative lifetime", createBody({ lifetime: -5 }), 422, "payload.lifetime"],
    ["lifetime as a string", createBody({ lifetime: "60" }), 422, "payload.lifetime"],
    ["lifetime above the maximum", createBody({ lifetime: MAX_LIFETIME_SECONDS + 1 }), 422, "payload.lifetime"],
    ["a relative on_close_route", createBody({ on_close_route: "/notify" }), 422, "payload.on_close_route"],
    ["an ftp on_close_route", createBody({ on_close_route: "ftp://cb.example/x" }), 422, "payload.on_close_route"],
    ["an on_close_route on port 0", createBody({ on_close_route: "http://127.0.0.1:0/done" }), 422, "payload.on_close_route: must not use port 0"],
    [
      "an on_close_route within 8192 characters as written, past them as sent (each é is %C3%A9: probe 50 L1)",
      createBody({ on_close_route: `http://cb.example/${"é".repeat(8_000)}` }),
      422,
      "payload.on_close_route: must be at most 8192 characters long, written as a URL (percent-encoded)"
    ],
    ["session_id as a number", { ...createBody(), session_id: 5 }, 422, "session_id"],
    ["an auth_data of 20,000 characters", { auth_data: authData({ pad: "x".repeat(20_000) }) }, 422, "auth_data: its JSON text is longer than 16384 characters"],
    [
      "an on_close_payload whose callback passes 1 MiB only as written again (1e21 comes back as 1e+21)",
      `{"auth_data":${JSON.stringify(authData())},"payload":{"on_close_route":"http://127.0.0.1:9/cb","on_close_payload":[${Array(190_000).fill("1e21").join(",")}]}}`,
      422,
      "payload.on_close_payload: the callback body would exceed 1048576 bytes"
    ],
    ["a 2 MB body", { ...createBody(), padding: "x".repeat(2 * 1024 * 1024) }, 413, "larger than"]
  ]

  const cases = malformed.map(([name, body, status, named]) => ({ name, body, status, named }))
  it.scoped.each(cases)("$name → $status naming $named, and no slot is taken", ({ body, named, status }) =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const reply = yield* call(publicUrl, "/session/create", { body })
      assert.strictEqual(reply.status, status, reply.text)
      const error = decodeReply(ErrorAnswer, reply)
      assert.include(`${error.field ?? ""} ${error.error}`, named)
      // The slot is still free: a valid create succeeds.
      assert.strictEqual((yield* call(publicUrl, "/session/create", { body: createBody() })).status, 201)
    })
  )

  it.scoped("an on_close_route at one of the worker's own ports, however its host is written, is a 422 naming it at the create, and no slot is taken (review 39 L4)", () =>
    Effect.gen(function* () {
      // Its ports as a worker has them, set (the harness's port 0 is no port the check could know).
      const [workerPort, workerHttpPort, controlPort] = yield* Effect.promise(() => Promise.all([freePort(), freePort(), freePort()]))
      const { publicUrl } = yield* startWorker({ workerPort, workerHttpPort, controlPort })
      for (const route of [`http://127.0.0.1:${controlPort}/recycle`, `http://localhost:${workerPort}/session/end`, `http://[::1]:${workerHttpPort}/x`]) {
        const reply = yield* call(publicUrl, "/session/create", { body: createBody({ on_close_route: route }) })
        assert.strictEqual(reply.status, 422, route)
        assert.deepStrictEqual(decodeReply(ErrorAnswer, reply), { error: "payload.on_close_route: must not point at this worker's own ports", field: "payload.on_close_route" }, route)
      }
      assert.strictEqual((yield* call(publicUrl, "/session/create", { body: createBody() })).status, 201)
    })
  )

  it.scoped("an on_close_route no HTTP connection can reach (broadcast, multicast, a name past 253 characters) is a 422 naming it at the create, not six attempts at the close (probe 53 I3)", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker({ maxSessions: 2 })
      const longName = `${"a".repeat(63)}.`.repeat(4).slice(0, 254)
      for (const [route, problem] of [
        ["http://255.255.255.255:9/cb", "a broadcast address takes no HTTP connection"],
        ["http://224.0.0.1:9/cb", "a multicast address takes no HTTP connection"],
        ["http://0xef.1.2.3/cb", "a multicast address takes no HTTP connection"],
        ["http://[ff02::1]:9/cb", "a multicast address takes no HTTP connection"],
        [`http://${longName}/cb`, "a host name is at most 253 characters"]
      ] as const) {
        const reply = yield* call(publicUrl, "/session/create", { body: createBody({ on_close_route: route }) })
        assert.strictEqual(reply.status, 422, route)
        assert.deepStrictEqual(decodeReply(ErrorAnswer, reply), { error: `payload.on_close_route: ${problem}`, field: "payload.on_close_route" }, route)
      }
      // The edges: the last unicast address below multicast, a name of 253 characters, are taken (left open: no callback
      // is sent before the worker stops).
      for (const route of ["http://223.255.255.255:9/cb", `http://${longName.slice(0, 253)}/cb`]) {
        assert.strictEqual((yield* call(publicUrl, "/session/create", { body: createBody({ on_close_route: route }) })).status, 201, route)
      }
    })
  )

  it.scoped("the callback-size check at its edge: a payload whose callback, written again with our keys at their longest, is 1 MiB is taken; one byte more is a 422", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      // Each `1e20` is written again as 21 digits: the request stays under its own 1 MiB while the callback reaches it.
      const added = keptCallbackText(keepPayload({ p: 0 }), LONGEST_CLOSE).length - '{"p":0}'.length
      const numbers = (text: string) => Array(3000).fill(text).join(",")
      const payload = (numberText: string, padding: number) => `{"p":[${numbers(numberText)}],"q":"${"x".repeat(padding)}"}`
      const fits = MAX_CALLBACK_BYTES - added - payload("100000000000000000000", 0).length
      const body = (padding: number) =>
        `{"auth_data":${JSON.stringify(authData())},"payload":{"on_close_route":"http://127.0.0.1:9/cb","on_close_payload":${payload("1e20", padding)}}}`
      const over = yield* call(publicUrl, "/session/create", { body: body(fits + 1) })
      assert.strictEqual(over.status, 422, over.text)
      assert.strictEqual(decodeReply(ErrorAnswer, over).field, "payload.on_close_payload")
      const at = yield* call(publicUrl, "/session/create", { body: body(fits) })
      assert.strictEqual(at.status, 201, at.text)
    })
  )

  it.scoped("a body that is not UTF-8 is invalid JSON (two such bytes would decode alike); the same text in UTF-8 is fine", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const send = (body: Buffer) => rawPost(publicUrl, [body])
      const text = JSON.stringify({ ...createBody(), note: "\u00ff" })
      const latin1 = yield* send(Buffer.from(text, "latin1"))
      assert.deepStrictEqual({ status: latin1.status, body: JSON.parse(latin1.text) as unknown }, { status: 422, body: { error: "invalid JSON" } })
      assert.strictEqual((yield* send(Buffer.from(text, "utf8"))).status, 201)
    })
  )

  it.scoped("a small chunked body (no content-length) is read and answered like any other; a create with no body at all is 422", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const send = (parts: ReadonlyArray<string>, headers: Record<string, string>) =>
        Effect.map(rawPost(publicUrl, parts, { headers }), (reply) => reply.status)
      const text = JSON.stringify(createBody())
      assert.strictEqual(yield* send([text.slice(0, 20), text.slice(20)], { "content-type": "application/json" }), 201)
      assert.strictEqual(yield* send([], { "content-type": "application/json", "content-length": "0" }), 422)
    })
  )

  it.scoped("a chunked body (no content-length) over 1 MiB gets 413 too, and no slot is taken", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const status = yield* Effect.promise(
        () =>
          new Promise<number>((resolve, reject) => {
            const request = httpRequest(`${publicUrl}/session/create`, { method: "POST", headers: { "content-type": "application/json" } }, (response) => {
              response.resume()
              resolve(response.statusCode ?? 0)
            })
            request.on("error", reject)
            const chunk = "x".repeat(64 * 1024)
            request.write(`{"auth_data": {}, "padding": "`)
            for (let i = 0; i < 40; i++) request.write(chunk)
            request.end(`"}`)
          })
      )
      assert.strictEqual(status, 413)
      assert.strictEqual((yield* call(publicUrl, "/session/create", { body: createBody() })).status, 201)
    })
  )

  it.scoped("50 concurrent creates against one slot: exactly one 201, the rest 429", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const replies = yield* Effect.all(
        Array.from({ length: 50 }, () => call(publicUrl, "/session/create", { body: createBody() })),
        { concurrency: "unbounded" }
      )
      const statuses = replies.map((reply) => reply.status)
      assert.strictEqual(statuses.filter((status) => status === 201).length, 1)
      assert.strictEqual(statuses.filter((status) => status === 429).length, 49)
    })
  )
})

describe("public API: /session/end, /session/get, /session/health", () => {
  it.scoped("/session/end answers exactly as the framework does", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const id = yield* create(publicUrl)
      const end = (body: string | object) => call(publicUrl, "/session/end", { body })
      assert.deepStrictEqual((yield* end("{")).json, { error: "invalid JSON" })
      const missing = yield* end({ session_auth: authData() })
      assert.strictEqual(missing.status, 422)
      assert.deepStrictEqual(missing.json, { error: "missing session_id" })
      assert.deepStrictEqual((yield* end({ session_id: "" })).json, { error: "missing session_id" })
      const unknown = yield* end({ session_id: "nope", session_auth: authData() })
      assert.strictEqual(unknown.status, 400)
      assert.deepStrictEqual(unknown.json, { error: "session with id nope not found" })
      // The longest id there can be is echoed whole; a longer one is cut, so no answer echoes a megabyte.
      const longest = "a".repeat(256)
      assert.deepStrictEqual((yield* end({ session_id: longest, session_auth: authData() })).json, { error: `session with id ${longest} not found` })
      assert.deepStrictEqual((yield* end({ session_id: "b".repeat(100_000), session_auth: authData() })).json, {
        error: `session with id ${"b".repeat(256)}… not found`
      })
      const noAuth = yield* end({ session_id: id })
      assert.strictEqual(noAuth.status, 401)
      assert.deepStrictEqual(noAuth.json, { error: "session_auth is not valid" })
      assert.strictEqual((yield* end({ session_id: id, session_auth: authData({ reqnum: 1 }) })).status, 401)
      const reordered = Object.fromEntries(Object.entries(authData()).reverse())
      const ended = yield* end({ session_id: id, session_auth: reordered })
      assert.strictEqual(ended.status, 200)
      assert.deepStrictEqual(ended.json, { ended: true, removed_session: id })
      const again = yield* end({ session_id: id, session_auth: authData() })
      assert.strictEqual(again.status, 410)
      assert.deepStrictEqual(again.json, { error: "session already closed" })
    })
  )

  it.scoped("/session/get returns the session without extending it", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const id = yield* create(publicUrl, { lifetime: 30, on_close_route: "http://127.0.0.1:9/cb", on_close_payload: { job: 1 } })
      yield* TestClock.adjust("10 seconds")
      const get = (body: object) => call(publicUrl, "/session/get", { body })
      const reply = yield* get({ session_id: id, session_auth: authData() })
      assert.strictEqual(reply.status, 200)
      assert.deepStrictEqual(reply.json, {
        session_id: id,
        auth_data: authData(),
        lifetime: 30,
        expiration: 30,
        created_at: 0,
        on_close_route: "http://127.0.0.1:9/cb",
        on_close_payload: { job: 1 }
      })
      const unknown = yield* get({ session_id: "nope", session_auth: authData() })
      assert.strictEqual(unknown.status, 400)
      assert.deepStrictEqual(unknown.json, { error: "session does not exist" })
      assert.strictEqual((yield* get({ session_id: id })).status, 401)
      assert.strictEqual((yield* get({})).status, 422)
    })
  )

  it.scoped("/session/get writes the payload as the create's callback will: big integers and exponents exact, integer-like keys first, `__proto__` kept, a top-level value or none", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const route = "http://127.0.0.1:9/cb"
      const cases: ReadonlyArray<readonly [string, string]> = [
        ['{"b":1.50,"a":[123456789012345678901234567890,1e400,-0.0],"7":"x","__proto__":{"y":null}}', '{"7":"x","b":1.5,"a":[123456789012345678901234567890,1e999,0],"__proto__":{"y":null}}'],
        ["123456789012345678901234567890", "123456789012345678901234567890"],
        ['"text"', '"text"'],
        ["null", "null"]
      ]
      for (const [sent, written] of cases) {
        const body = `{"auth_data":${JSON.stringify(authData())},"payload":{"lifetime":60,"on_close_route":"${route}","on_close_payload":${sent}}}`
        const created = yield* call(publicUrl, "/session/create", { body })
        const id = decodeReply(CreateSessionAnswer, created).session_id
        const got = yield* call(publicUrl, "/session/get", { body: { session_id: id, session_auth: authData() } })
        assert.strictEqual(got.text, `{"session_id":"${id}","auth_data":${JSON.stringify(authData())},"lifetime":60,"expiration":60,"created_at":0,"on_close_route":"${route}","on_close_payload":${written}}`)
        yield* call(publicUrl, "/session/end", { body: { session_id: id, session_auth: authData() } })
      }
    })
  )

  it.scoped("/session/get writes auth_data as the create sent it, kept as text: an integer past 2^53 exact, an own `__proto__` key kept, its keys in their order", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const auth = JSON.stringify(authData()).slice(0, -1) + ',"zeta":123456789012345678901234567890,"__proto__":{"k":1},"alpha":[1e400]}'
      const written = JSON.stringify(authData()).slice(0, -1) + ',"zeta":123456789012345678901234567890,"__proto__":{"k":1},"alpha":[1e999]}'
      const created = yield* call(publicUrl, "/session/create", { body: `{"auth_data":${auth},"payload":{"lifetime":60}}` })
      const id = decodeReply(CreateSessionAnswer, created).session_id
      const got = yield* call(publicUrl, "/session/get", { body: `{"session_id":"${id}","session_auth":${auth}}` })
      assert.strictEqual(got.text, `{"session_id":"${id}","auth_data":${written},"lifetime":60,"expiration":60,"created_at":0,"on_close_route":null,"on_close_payload":null}`)
    })
  )

  it.scoped("/session/health: ok true, ok false for an unknown id, 401 for bad auth, 422 without id", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const id = yield* create(publicUrl)
      const health = (body: object) => call(publicUrl, "/session/health", { body })
      assert.deepStrictEqual(decodeReply(SessionHealthAnswer, yield* health({ session_id: id, session_auth: authData() })), { ok: true })
      const unknown = yield* health({ session_id: "nope" })
      assert.strictEqual(unknown.status, 200)
      assert.deepStrictEqual(decodeReply(SessionHealthAnswer, unknown), { ok: false })
      assert.strictEqual((yield* health({ session_id: id, session_auth: {} })).status, 401)
      assert.deepStrictEqual((yield* health({})).json, { error: "missing session_id" })
    })
  )

  it.scoped("the webhook port serves /session/end and nothing else", () =>
    Effect.gen(function* () {
      const { publicUrl, webhookUrl } = yield* startWorker()
      const id = yield* create(publicUrl)
      assert.strictEqual((yield* call(webhookUrl, "/session/create", { body: createBody() })).status, 404)
      assert.strictEqual((yield* call(webhookUrl, "/session/get", { body: {} })).status, 404)
      assert.strictEqual((yield* call(webhookUrl, "/session/end", { method: "GET" })).status, 405)
      const ended = yield* call(webhookUrl, "/session/end", { body: { session_id: id, session_auth: authData() } })
      assert.deepStrictEqual(ended.json, { ended: true, removed_session: id })
    })
  )
})

describe("public API: /ping", () => {
  it.scoped("answers the remote-function envelope; with a session it slides the expiry", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const ping = (body: object) => call(publicUrl, "/ping", { body })
      const bare = yield* ping({ auth_data: authData(), payload: {} })
      assert.strictEqual(bare.status, 200)
      assert.deepStrictEqual(bare.json, { result: { ok: true } })
      const id = yield* create(publicUrl, { lifetime: 10 })
      yield* TestClock.adjust("4 seconds")
      assert.deepStrictEqual((yield* ping({ auth_data: authData(), payload: {}, session_id: id })).json, { result: { ok: true }, expiration: 14 })
      yield* TestClock.adjust("1 second")
      yield* ping({ auth_data: authData(), payload: {}, session_id: id })
      const got = yield* call(publicUrl, "/session/get", { body: { session_id: id, session_auth: authData() } })
      assert.strictEqual(decodeReply(SessionInfoAnswer, got).expiration, 15)
    })
  )

  it.scoped("410 for an unknown session, 401 for another session's auth_data, 422 for bad fields", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const id = yield* create(publicUrl)
      const ping = (body: object) => call(publicUrl, "/ping", { body })
      const unknown = yield* ping({ auth_data: authData(), payload: {}, session_id: "nope" })
      assert.strictEqual(unknown.status, 410)
      assert.deepStrictEqual(unknown.json, { error: "invalid session" })
      assert.strictEqual((yield* ping({ auth_data: authData({ reqnum: 5 }), payload: {}, session_id: id })).status, 401)
      const noPayload = yield* ping({ auth_data: authData() })
      assert.strictEqual(noPayload.status, 422)
      assert.strictEqual(decodeReply(ErrorAnswer, noPayload).field, "payload")
      assert.strictEqual(decodeReply(ErrorAnswer, yield* ping({ auth_data: authData(), payload: [] })).field, "payload")
      assert.strictEqual(decodeReply(ErrorAnswer, yield* ping({ payload: {} })).field, "auth_data")
    })
  )
})

describe("public API: routing", () => {
  it.scoped("unknown paths get 404, known paths with the wrong method 405 with Allow", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      assert.strictEqual((yield* call(publicUrl, "/nope", { body: {} })).status, 404)
      const wrong = yield* call(publicUrl, "/session/create", { method: "GET" })
      assert.strictEqual(wrong.status, 405)
      assert.strictEqual(wrong.headers.get("allow"), "POST")
    })
  )

  it.scoped("a request target in absolute form is routed by its path (RFC 9112 §3.2.2)", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const send = (target: string) => Effect.map(rawPost(publicUrl, [JSON.stringify(createBody())], { target }), (reply) => reply.status)
      assert.strictEqual(yield* send(`${publicUrl}/session/create?x=1`), 201)
      assert.strictEqual(yield* send(`${publicUrl.replace("http://", "HTTP://")}/session/create`), 429)
      assert.strictEqual(yield* send(`${publicUrl}/nope`), 404)
      assert.strictEqual(yield* send("ftp://example/session/create"), 404)
    })
  )

  it.scoped("a fragment a client sends anyway is not part of the path, as aiohttp reads it (RFC 9112 §3.2)", () =>
    Effect.gen(function* () {
      const { publicUrl } = yield* startWorker()
      const send = (target: string) => Effect.map(rawPost(publicUrl, [JSON.stringify(createBody())], { target }), (reply) => reply.status)
      assert.strictEqual(yield* send("/session/create#top"), 201)
      assert.strictEqual(yield* send("/session/create?x=1#top"), 429)
      assert.strictEqual(yield* send("/nope#/session/create"), 404)
    })
  )
})

describe("callbacks through HTTP", () => {
  it.scoped("/session/end answers before the callback target does, and the callback body is the framework's", () =>
    Effect.gen(function* () {
      const hung = yield* startReceiver({ hang: true })
      const { controlUrl, publicUrl } = yield* startWorker()
      const id = yield* create(publicUrl, { on_close_route: `${hung.url}/notify`, on_close_payload: { job_id: "j-1" } })
      const ended = yield* call(publicUrl, "/session/end", { body: { session_id: id, session_auth: authData() } })
      assert.strictEqual(ended.status, 200)
      const received = yield* Queue.take(hung.received)
      assert.deepStrictEqual(received, { path: "/notify", body: { job_id: "j-1", session_id: id, close_reason: "ended", generation: 1 } })
      // The slot is free while the callback target still hangs.
      assert.strictEqual((yield* call(publicUrl, "/session/create", { body: createBody() })).status, 201)
      const debug = (yield* call(controlUrl, "/debug", { method: "GET" })).json as {
        callbacks: { pending: number; deliveries: Array<{ session_id: string; state: string; attempts: number; next_attempt_at: number | null }> }
      }
      assert.strictEqual(debug.callbacks.pending, 1)
      assert.deepStrictEqual(
        debug.callbacks.deliveries.map((delivery) => [delivery.session_id, delivery.state, delivery.attempts, delivery.next_attempt_at]),
        [[id, "delivering", 1, null]]
      )
    })
  )
})
