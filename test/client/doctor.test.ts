import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Ref } from "effect"
import { diagnose, renderJson, renderText } from "../../src/client/doctor.js"
import { findings } from "../../src/client/doctorRules.js"
import type { EndpointSettings } from "../../src/client/endpointSettings.js"
import { VastClient } from "../../src/client/VastClient.js"
import { ENDPOINT_NAME, USER_KEY } from "./fakeControlPlane.js"
import { type FakeAnswer, type SeenRequest, fakeHttp } from "./fakeHttp.js"

const WEBSERVER = "https://console.test"
const WORKER = "https://203.0.113.7:41234"

const recommended: EndpointSettings["settings"] = {
  target_util: 1,
  min_load: 0,
  cold_workers: 0,
  inactivity_timeout: 300,
  max_queue_time: 0,
  target_queue_time: 0,
  max_workers: 20
}
const endpoint = (settings: Partial<EndpointSettings["settings"]>): EndpointSettings => ({
  id: 2,
  name: ENDPOINT_NAME,
  state: "active",
  settings: { ...recommended, ...settings }
})
const judged = (settings: Partial<EndpointSettings["settings"]>, sessions = 1) =>
  findings(endpoint(settings), { sessions }).map((finding) => [finding.setting, finding.value])

describe("the doctor's rules", () => {
  it("the README's recommended settings are not risky", () => {
    assert.deepStrictEqual(judged({}), [])
  })

  it("each risky setting is reported once, in a fixed order, with its value", () => {
    assert.deepStrictEqual(judged({ target_util: 0.9 }), [["target_util", 0.9]])
    assert.deepStrictEqual(judged({ min_load: 100 }), [["min_load", 100]])
    assert.deepStrictEqual(judged({ cold_workers: 5 }), [["cold_workers", 5]])
    assert.deepStrictEqual(judged({ inactivity_timeout: 0 }), [["inactivity_timeout", 0]])
    assert.deepStrictEqual(judged({ inactivity_timeout: -1 }), [["inactivity_timeout", -1]])
    assert.deepStrictEqual(judged({ max_queue_time: 30 }), [["max_queue_time", 30]])
    assert.deepStrictEqual(judged({ target_queue_time: 10 }), [["target_queue_time", 10]])
    assert.deepStrictEqual(judged({ max_workers: 2 }, 3), [["max_workers", 2]])
    assert.deepStrictEqual(judged({ max_workers: 3 }, 3), [])
    assert.deepStrictEqual(judged({ max_queue_time: 30, target_util: 0.9 }), [["target_util", 0.9], ["max_queue_time", 30]])
  })

  it("says what a setting costs and how to fix it", () => {
    const [spare] = findings(endpoint({ target_util: 0.9 }), { sessions: 1 })
    assert.include(spare?.risk ?? "", "100 / 0.9 = 111.1")
    assert.strictEqual(spare?.fix, "set target_util to 1.0")
    const [stall] = findings(endpoint({ max_queue_time: 30 }), { sessions: 1 })
    assert.include(stall?.risk ?? "", "2 → 3")
    const [few] = findings(endpoint({ max_workers: 2 }), { sessions: 5 })
    assert.strictEqual(few?.fix, "raise max_workers to at least 5 (it is also your spending cap)")
    assert.include(few?.risk ?? "", "the ones past 2 wait until a session ends")
    // None at all: no session will ever end, so none waits for one; each waits for its route's time-out.
    const [none] = findings(endpoint({ max_workers: 0 }), { sessions: 1 })
    assert.strictEqual(none?.risk, "max_workers 0: no worker will start, so every session you plan (--sessions 1) waits until its route times out")
  })

  it("a setting the lookup did not report is a finding: it could not be checked", () => {
    const [unknown] = findings(endpoint({ cold_workers: null }), { sessions: 1 })
    assert.deepInclude(unknown, { setting: "cold_workers", value: null })
    assert.include(unknown?.fix ?? "", "it should be 0")
  })

  it("a setting reported as no finite number (the text \"NaN\", \"Infinity\" or \"1e309\") could not be checked either: every comparison with it is false", () => {
    assert.deepStrictEqual(judged({ target_util: Number.NaN, inactivity_timeout: Number.POSITIVE_INFINITY, max_workers: Number.NEGATIVE_INFINITY }), [
      ["target_util", Number.NaN],
      ["inactivity_timeout", Number.POSITIVE_INFINITY],
      ["max_workers", Number.NEGATIVE_INFINITY]
    ])
    const [unknown] = findings(endpoint({ min_load: Number.NaN }), { sessions: 1 })
    assert.strictEqual(unknown?.risk, "the endpoint lookup reported NaN, not a finite number, so it could not be checked")
  })
})

/** The doctor over a fake webserver (the endpoint list `results`) and a fake worker. */
const doctorWith = (results: unknown, worker: (request: SeenRequest) => FakeAnswer = () => ({ status: 200, body: { ok: false } })) =>
  Effect.gen(function* () {
    const http = yield* fakeHttp((request) => (request.url.startsWith(WEBSERVER) ? { status: 200, body: { results } } : worker(request)))
    const client = VastClient.layer({ apiKey: Redacted.make(USER_KEY), webserverUrl: WEBSERVER, autoscalerUrl: "https://run.test" }).pipe(
      Layer.provide(http.layer)
    )
    return { http, run: (options: Parameters<typeof diagnose>[0]) => Effect.provide(diagnose(options), client) }
  })

const record = { id: 2, endpoint_name: ENDPOINT_NAME, api_key: "k", user_id: 1, created_at: 0, endpoint_state: "active" }

describe("diagnose", () => {
  it.effect("reads the settings from the endpoint list (numbers, or numeric strings) and probes the worker", () =>
    Effect.gen(function* () {
      const { http, run } = yield* doctorWith([
        { ...record, endpoint_name: "other", target_util: 0.5 },
        { ...record, target_util: "0.9", min_load: 0, cold_workers: 5, inactivity_timeout: 60, max_queue_time: 0, target_queue_time: 0, max_workers: 20 }
      ])
      const report = yield* run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.some(WORKER) })
      assert.deepStrictEqual(report.findings.map((finding) => finding.setting), ["target_util", "cold_workers"])
      assert.deepInclude(report.worker, { url: WORKER, answers: true, status: 200 })
      assert.isFalse(report.ok)
      // The probe asks about a session the worker does not hold, and sends no key.
      const [, probe] = yield* Ref.get(http.seen)
      assert.deepStrictEqual([probe?.url, probe?.body], [`${WORKER}/session/health`, { session_id: "doctor-probe" }])
      assert.isUndefined(probe?.headers["authorization"])
      const parsed: unknown = JSON.parse(renderJson(report))
      assert.deepInclude(parsed, { ok: false })
      assert.include(renderText(report), "target_util = 0.9\n    risk: ")
      // Where the fixes go, as one command for the endpoint's id.
      assert.include(renderText(report), "\n  apply: vastai update endpoint 2 --target_util 1.0 --cold_workers 0   (or edit the endpoint in the Vast console)\n")
    })
  )

  it.effect("settings given as \"NaN\" and \"Infinity\" make the report not OK, each a finding that could not be checked", () =>
    Effect.gen(function* () {
      const { run } = yield* doctorWith([
        { ...record, target_util: "NaN", min_load: 0, cold_workers: 0, inactivity_timeout: "1e309", max_queue_time: 0, target_queue_time: 0, max_workers: "Infinity" }
      ])
      const report = yield* run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.none() })
      assert.deepStrictEqual(report.findings.map((finding) => finding.setting), ["target_util", "inactivity_timeout", "max_workers"])
      assert.isFalse(report.ok)
      assert.include(renderText(report), "inactivity_timeout = Infinity\n    risk: the endpoint lookup reported Infinity, not a finite number")
      // In JSON as text, since null is what "not reported" looks like.
      const parsed = JSON.parse(renderJson(report)) as { findings: Array<{ setting: string; value: unknown }>; endpoint: { settings: Record<string, unknown> } }
      assert.deepStrictEqual(parsed.findings.map((finding) => finding.value), ["NaN", "Infinity", "Infinity"])
      assert.strictEqual(parsed.endpoint.settings["target_util"], "NaN")
    })
  )

  it.effect("a setting that could not be checked is not in the apply command (writing the README's value over it could cap a working endpoint): its setTo is null", () =>
    Effect.gen(function* () {
      const { run } = yield* doctorWith([
        { ...record, target_util: 0.9, min_load: 0, cold_workers: 0, inactivity_timeout: "NaN", max_queue_time: 0, target_queue_time: 0 }
      ])
      const report = yield* run({ endpoint: ENDPOINT_NAME, sessions: 3, worker: Option.none() })
      assert.deepStrictEqual(
        report.findings.map((finding) => [finding.setting, finding.setTo]),
        [["target_util", "1.0"], ["inactivity_timeout", null], ["max_workers", null]]
      )
      const text = renderText(report)
      assert.include(text, "\n  apply: vastai update endpoint 2 --target_util 1.0   (or edit the endpoint in the Vast console)\n")
      assert.include(text, "fix:  check it in the Vast console: for the null worker it should be at least 3, the concurrent sessions you plan (--sessions)\n")
      const parsed = JSON.parse(renderJson(report)) as { findings: Array<{ setTo: unknown }> }
      assert.deepStrictEqual(parsed.findings.map((finding) => finding.setTo), ["1.0", null, null])
      // Nothing that could be checked was risky: no command at all.
      const unchecked = yield* doctorWith([{ ...record, target_util: 1, min_load: 0, cold_workers: 0, inactivity_timeout: 300, max_queue_time: 0, target_queue_time: 0 }])
      assert.notInclude(renderText(yield* unchecked.run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.none() })), "apply:")
    })
  )

  it.effect("nothing risky and a worker that answers: ok; a worker that answers otherwise, or not at all: not ok", () =>
    Effect.gen(function* () {
      const good = yield* doctorWith([{ ...record, ...recommended }])
      assert.isTrue((yield* good.run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.none() })).ok)
      assert.isTrue((yield* good.run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.some(WORKER) })).ok)
      const notNull = yield* doctorWith([{ ...record, ...recommended }], () => ({ status: 404, body: "not found" }))
      const odd = yield* notNull.run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.some(WORKER) })
      assert.deepInclude(odd.worker, { answers: false, status: 404 })
      assert.isFalse(odd.ok)
      // Only a null worker answers {"ok": false} about a session nobody holds.
      const yesMan = yield* doctorWith([{ ...record, ...recommended }], () => ({ status: 200, body: { ok: true } }))
      const agreeable = yield* yesMan.run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.some(WORKER) })
      assert.deepInclude(agreeable.worker, { answers: false, status: 200 })
      assert.isFalse(agreeable.ok)
      const gone = yield* doctorWith([{ ...record, ...recommended }], () => "network-error")
      const silent = yield* gone.run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.some(WORKER) })
      assert.deepInclude(silent.worker, { answers: false, status: null })
      assert.include(renderText(silent), "no answer")
      // An answer past the client's size limit came all the same: its status is said, not "no answer".
      const flood = yield* doctorWith([{ ...record, ...recommended }], () => ({ status: 200, body: "x".repeat(1024 * 1024 + 1) }))
      const flooded = yield* flood.run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.some(WORKER) })
      assert.deepInclude(flooded.worker, { answers: false, status: 200 })
      assert.include(renderText(flooded), ": does not answer as a null worker (POST /session/health → 200 the body is larger than 1024 KB)")
      // So did one cut off on its way.
      const cut = yield* doctorWith([{ ...record, ...recommended }], () => ({ status: 200, body: { ok: false }, cutOff: true }))
      const cutOff = yield* cut.run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.some(WORKER) })
      assert.deepInclude(cutOff.worker, { answers: false, status: 200 })
      assert.notInclude(renderText(cutOff), "no answer")
    })
  )

  it.effect("the report prints a worker's answer and the endpoint's name escaped, and the worker's URL without credentials or query", () =>
    Effect.gen(function* () {
      const { run } = yield* doctorWith([{ ...record, endpoint_name: ENDPOINT_NAME, endpoint_state: "active\u001b[2J" }], () => ({
        status: 500,
        body: "\u001b]0;owned\u0007"
      }))
      const report = yield* run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.some("http://u:PASSWORD@203.0.113.5:9/?t=TOKEN") })
      for (const text of [renderText(report), renderJson(report)]) {
        assert.notMatch(text.replaceAll("\n", ""), /[\u0000-\u001f]/, text)
        assert.notInclude(text, "PASSWORD")
        assert.notInclude(text, "TOKEN")
      }
      assert.include(renderText(report), "worker http://203.0.113.5:9/?…: does not answer as a null worker (POST /session/health → 500 \\x1b]0;owned\\x07)")
    })
  )

  it.effect("an unknown endpoint is a failed lookup in the report, not a crash", () =>
    Effect.gen(function* () {
      const { run } = yield* doctorWith([])
      const report = yield* run({ endpoint: ENDPOINT_NAME, sessions: 1, worker: Option.none() })
      assert.deepInclude(report, { endpoint: null, ok: false })
      assert.include(report.error ?? "", "could not be found")
      assert.include(renderText(report), "endpoint lookup failed")
    })
  )
})
