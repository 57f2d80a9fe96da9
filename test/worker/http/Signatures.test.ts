import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CreateSessionAnswer, ErrorAnswer } from "../../../src/protocol/session.js"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted, TestClock } from "effect"
import { fakeAutoscaler } from "../../support/fakeAutoscaler.js"
import { call, decodeReply, startWorker } from "../../support/worker.js"
import { capturedLogs } from "../../support/logs.js"
import { pendingRecords } from "../../support/metrics.js"

const workerUrl = "https://203.0.113.7:41234"

describe("autoscaler signatures on /session/create and /ping", () => {
  it.scoped("a valid signature is accepted; a forged or missing one gets 401 with an empty body and is nobody's demand", () =>
    Effect.gen(function* () {
      const autoscaler = yield* fakeAutoscaler
      const { metrics, publicUrl, verifier } = yield* startWorker({}, { pubkeyUrl: `${autoscaler.url}/pubkey/` })
      yield* verifier.ready
      const forged = autoscaler.authData(workerUrl, { signature: autoscaler.sign("https://198.51.100.1:1") })
      const refused = yield* call(publicUrl, "/session/create", { body: { auth_data: forged, payload: { lifetime: 60 } } })
      assert.strictEqual(refused.status, 401)
      assert.strictEqual(refused.text, "")
      const garbage = yield* call(publicUrl, "/session/create", {
        body: { auth_data: autoscaler.authData(workerUrl, { signature: "not base64!" }) }
      })
      assert.strictEqual(garbage.status, 401)
      // An unauthenticated client cannot steer the autoscaler: no rejected load, no request_idx reported.
      assert.strictEqual((yield* metrics.snapshot).counters.rejected, 0)
      assert.lengthOf(yield* pendingRecords(metrics, 10), 0)

      const signed = autoscaler.authData(workerUrl)
      const created = yield* call(publicUrl, "/session/create", { body: { auth_data: signed, payload: { lifetime: 60 } } })
      assert.strictEqual(created.status, 201)
      const sessionId = decodeReply(CreateSessionAnswer, created).session_id
      const ping = yield* call(publicUrl, "/ping", { body: { auth_data: signed, payload: {}, session_id: sessionId } })
      assert.deepStrictEqual(ping.json, { result: { ok: true }, expiration: 60 })
      const forgedPing = yield* call(publicUrl, "/ping", { body: { auth_data: forged, payload: {} } })
      assert.strictEqual(forgedPing.status, 401)
      assert.strictEqual(forgedPing.text, "")
      const forgedInSession = yield* call(publicUrl, "/ping", { body: { auth_data: forged, payload: {}, session_id: sessionId } })
      assert.strictEqual(forgedInSession.status, 401)
      assert.strictEqual((yield* metrics.snapshot).counters.rejected, 0)
      // A validly signed in-session ping whose auth_data is not the session's is counted as rejected.
      const stranger = autoscaler.authData(workerUrl, { reqnum: 99 })
      const mismatched = yield* call(publicUrl, "/ping", { body: { auth_data: stranger, payload: {}, session_id: sessionId } })
      assert.strictEqual(mismatched.status, 401)
      assert.strictEqual((yield* metrics.snapshot).counters.rejected, 100)
    })
  )

  it.scoped("a signed create refused for what it asked (422) is reported over with a Rejected record, and is no rejected load; an unsigned one is nobody's (SDK flow 45 M1)", () =>
    Effect.gen(function* () {
      const autoscaler = yield* fakeAutoscaler
      const { metrics, publicUrl, verifier } = yield* startWorker({}, { pubkeyUrl: `${autoscaler.url}/pubkey/` })
      yield* verifier.ready
      const asks: ReadonlyArray<[number, unknown, string]> = [
        [11, { lifetime: 0 }, "payload.lifetime"],
        [12, { lifetime: 60, on_close_route: "/relative" }, "payload.on_close_route"],
        [14, "not an object", "payload"]
      ]
      for (const [requestIdx, payload, field] of asks) {
        const refused = yield* call(publicUrl, "/session/create", { body: { auth_data: autoscaler.authData(workerUrl, { request_idx: requestIdx }), payload } })
        assert.deepStrictEqual([refused.status, decodeReply(ErrorAnswer, refused).field], [422, field])
      }
      // An auth_data past its length is refused by the pool, after the signature check.
      const long = yield* call(publicUrl, "/session/create", { body: { auth_data: autoscaler.authData(workerUrl, { request_idx: 15, extra: "x".repeat(20_000) }) } })
      assert.strictEqual(long.status, 422)
      const forged = autoscaler.authData(workerUrl, { request_idx: 16, signature: autoscaler.sign("https://198.51.100.1:1") })
      assert.strictEqual((yield* call(publicUrl, "/session/create", { body: { auth_data: forged, payload: { lifetime: 0 } } })).status, 422)
      const records = yield* pendingRecords(metrics, 10)
      assert.deepStrictEqual(records.map((record) => [record.request_idx, record.status, record.success]), [
        [11, "Rejected", false],
        [12, "Rejected", false],
        [14, "Rejected", false],
        [15, "Rejected", false]
      ])
      const snapshot = yield* metrics.snapshot
      assert.deepStrictEqual([snapshot.counters.rejected, snapshot.numRequestsRecieved], [0, 4])
    })
  )

  it.scoped("after a rotation the previous key opens no session a minute on, and still counts inside the session it opened", () =>
    Effect.gen(function* () {
      const autoscaler = yield* fakeAutoscaler
      const { publicUrl, verifier } = yield* startWorker({}, { pubkeyUrl: `${autoscaler.url}/pubkey/` })
      yield* verifier.ready
      const beforeRotation = autoscaler.authData(workerUrl)
      const alsoBefore = autoscaler.authData(workerUrl, { reqnum: 5 })
      const created = yield* call(publicUrl, "/session/create", { body: { auth_data: beforeRotation, payload: { lifetime: 600 } } })
      const sessionId = decodeReply(CreateSessionAnswer, created).session_id
      autoscaler.rotateKey()
      const afterRotation = autoscaler.authData(workerUrl)
      yield* TestClock.adjust("1 minute")
      // Refused until the worker's check of the key (started by the first refusal) is in; then 429: the slot is taken.
      let status = 401
      for (let attempt = 0; attempt < 500 && status === 401; attempt++) {
        status = (yield* call(publicUrl, "/session/create", { body: { auth_data: afterRotation, payload: {} } })).status
      }
      assert.strictEqual(status, 429)
      assert.strictEqual(autoscaler.pubkeyRequests, 2)
      yield* TestClock.adjust("1 minute")
      const ping = (authData: unknown, inSession: boolean) =>
        Effect.map(call(publicUrl, "/ping", { body: { auth_data: authData, payload: {}, ...(inSession ? { session_id: sessionId } : {}) } }), (reply) => reply.status)
      assert.strictEqual(yield* ping(beforeRotation, true), 200, "the session's own auth_data, signed by the key that opened it")
      assert.strictEqual(yield* ping(beforeRotation, false), 401)
      assert.strictEqual(yield* ping(afterRotation, false), 200)
      const ended = yield* call(publicUrl, "/session/end", { body: { session_id: sessionId, session_auth: beforeRotation } })
      assert.strictEqual(ended.status, 200)
      const byOldKey = yield* call(publicUrl, "/session/create", { body: { auth_data: alsoBefore, payload: {} } })
      assert.strictEqual(byOldKey.status, 401, "the previous key opens nothing past its minute")
      const byNewKey = yield* call(publicUrl, "/session/create", { body: { auth_data: afterRotation, payload: {} } })
      assert.strictEqual(byNewKey.status, 201)
    })
  )

  it.scoped("until the public key is loaded, signed routes answer 401", () =>
    Effect.gen(function* () {
      const autoscaler = yield* fakeAutoscaler
      autoscaler.mode.pubkeyFails = true
      const { publicUrl } = yield* startWorker({}, { pubkeyUrl: `${autoscaler.url}/pubkey/` })
      const reply = yield* call(publicUrl, "/session/create", { body: { auth_data: autoscaler.authData(workerUrl) } })
      assert.strictEqual(reply.status, 401)
    })
  )
})

describe("/pyworker/update", () => {
  it.scoped("needs the master token, compared exactly; an empty token never authorizes", () =>
    Effect.gen(function* () {
      const marker = join(tmpdir(), `null-worker-test-${process.pid}-marker`)
      const open = yield* startWorker({ forceUpdateFile: marker })
      assert.deepStrictEqual((yield* call(open.publicUrl, "/pyworker/update")).json, { error: "unauthorized" })
      const guarded = yield* startWorker({ forceUpdateFile: marker, masterToken: Redacted.make("tok") })
      for (const header of ["", "Bearer", "Bearer tok2", "bearer tok", "Bearer  tok"]) {
        const reply = yield* call(guarded.publicUrl, "/pyworker/update", { headers: { authorization: header } })
        assert.strictEqual(reply.status, 401, header)
      }
      const ok = yield* call(guarded.publicUrl, "/pyworker/update", { headers: { authorization: "Bearer tok" } })
      assert.deepStrictEqual([ok.status, ok.json], [200, { ok: true }])
      assert.isTrue((yield* Effect.promise(() => stat(marker))).isFile())
      yield* Effect.promise(() => rm(marker))
      const bare = yield* call(guarded.publicUrl, "/pyworker/update", { headers: { authorization: "tok" } })
      assert.strictEqual(bare.status, 200)
      yield* Effect.promise(() => rm(marker))
    })
  )

  it.scoped("a master token outside ASCII matches its UTF-8 bytes, as on the Python worker; its Latin-1 byte or invalid bytes do not", () =>
    Effect.gen(function* () {
      const marker = join(tmpdir(), `null-worker-test-${process.pid}-utf8`)
      const { publicUrl } = yield* startWorker({ forceUpdateFile: marker, masterToken: Redacted.make("tök-é") })
      // fetch writes each header character as one byte: a client's UTF-8 bytes are written as their Latin-1 text.
      const bytes = (buffer: Buffer) => buffer.toString("latin1")
      for (const header of [bytes(Buffer.from("Bearer tök-é", "latin1")), bytes(Buffer.from([0x74, 0xff, 0x6b]))]) {
        assert.strictEqual((yield* call(publicUrl, "/pyworker/update", { headers: { authorization: header } })).status, 401, header)
      }
      const ok = yield* call(publicUrl, "/pyworker/update", { headers: { authorization: bytes(Buffer.from("Bearer tök-é", "utf8")) } })
      assert.deepStrictEqual([ok.status, ok.json], [200, { ok: true }])
      yield* Effect.promise(() => rm(marker))
    })
  )

  it.scoped("a marker that cannot be written answers 500 naming the reason, and says so in the log: no stop", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const { publicUrl } = yield* startWorker({ forceUpdateFile: "/nonexistent-dir/marker", masterToken: Redacted.make("tok") }, { logs: logs.layer })
      const reply = yield* call(publicUrl, "/pyworker/update", { headers: { authorization: "Bearer tok" } })
      assert.strictEqual(reply.status, 500)
      assert.include(decodeReply(ErrorAnswer, reply).error, "failed to write file: ")
      const said = logs.lines.filter((line) => String(line.message[0]).startsWith("update requested"))
      assert.deepStrictEqual(said.map((line) => [line.level, line.message[0]]), [["WARN", "update requested, but its marker could not be written: not stopping"]])
      assert.include(JSON.stringify(said[0]?.message[1]), '"marker":"/nonexistent-dir/marker"')
      assert.include(JSON.stringify(said[0]?.message[1]), "ENOENT")
      assert.notInclude(JSON.stringify(logs.lines), "tok\"")
    })
  })

  it.scoped("a FIFO or a link to the journal put at the marker's path since the start answers 500 at once, naming it; the journal is untouched", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "update-marker-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const journal = join(dir, "outbox.jsonl")
      writeFileSync(journal, "")
      const fifo = join(dir, "fifo")
      execFileSync("mkfifo", [fifo])
      const linked = join(dir, "linked")
      const cases = [
        [fifo, `failed to write file: ${fifo} is a FIFO (with no reader), not a regular file`],
        [linked, `failed to write file: ${linked} is now ${journal}, which the worker keeps`]
      ] as const
      for (const [marker, error] of cases) {
        const { publicUrl } = yield* startWorker({ forceUpdateFile: marker, outboxFile: Option.some(journal), masterToken: Redacted.make("tok") })
        // Put there after the start, which would have refused it.
        if (marker === linked) symlinkSync(journal, linked)
        const reply = yield* call(publicUrl, "/pyworker/update", { headers: { authorization: "Bearer tok" } })
        assert.deepStrictEqual([reply.status, decodeReply(ErrorAnswer, reply).error], [500, error])
      }
      assert.strictEqual(readFileSync(journal, "utf8").includes("stopped"), false)
    })
  )
})
