/**
 * Property tests over every public, webhook and control route, through real HTTP: sequences of generated
 * requests — valid, near-valid (one field broken) and hostile (any JSON, deep nesting, huge numbers, odd
 * keys, not JSON at all) — against one worker. After every request: no 5xx. After every sequence (which
 * ends with a release of everything): at most one open session per slot, every created session closed
 * exactly once with exactly one callback, and every counter a report would carry finite.
 *
 * CI runs `FUZZ_RUNS` sequences (default 2000, each up to 12 requests: over ten thousand requests);
 * `npm run fuzz -- --runs 100000` runs more and writes its figures into docs/reliability.md.
 */
import { writeFileSync } from "node:fs"
import { Agent, request as httpRequest } from "node:http"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, FastCheck as fc, Layer, Ref } from "effect"
import { statusBody } from "../../src/protocol/workerStatus.js"
import { SignatureVerifier } from "../../src/worker/auth/SignatureVerifier.js"
import { LoadMetrics } from "../../src/worker/autoscaler/LoadMetrics.js"
import { WorkerSelf } from "../../src/worker/callbacks/selfTarget.js"
import { Listeners } from "../../src/worker/http/Listeners.js"
import { StopSignal } from "../../src/worker/lifecycle/StopSignal.js"
import { WorkerMetrics } from "../../src/worker/metrics/WorkerMetrics.js"
import { SlotPool } from "../../src/worker/slots/SlotPool.js"
import { PostedCallbacks, quietLogs, recordingCallbacks, testConfig } from "../support/layers.js"

const RUNS = Number(process.env["FUZZ_RUNS"] ?? "2000")
const MAX_SESSIONS = 2

interface Answer {
  readonly status: number
  readonly text: string
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 })

/** One request with a raw body (or none), over a kept-alive connection. */
const send = (port: number, method: string, path: string, body: string | undefined) =>
  Effect.async<Answer>((resume) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, method, path, agent, headers: body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let text = ""
        res.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
        res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, text })))
      }
    )
    req.on("error", (error) => resume(Effect.succeed({ status: 0, text: error.message })))
    req.end(body)
  })

// ---- generators ----------------------------------------------------------------------------------------

const validAuth = fc.record({
  url: fc.constantFrom("https://203.0.113.7:41234", "http://w:1"),
  signature: fc.base64String({ maxLength: 24 }),
  reqnum: fc.integer({ min: 0, max: 1_000_000 }),
  request_idx: fc.integer({ min: 0, max: 1_000_000 }),
  endpoint: fc.constantFrom("ep", "my-null-endpoint"),
  cost: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constantFrom("100", "1")),
  __request_id: fc.string({ maxLength: 8 })
})

/** Values that break things elsewhere: deep nesting, huge and odd numbers, odd keys, long strings. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(1.79e308, -1.79e308, -0, 1e21, Number.MAX_SAFE_INTEGER + 2, -1, 0.1),
  fc.constant(JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{}}}') as unknown),
  fc.integer({ min: 50, max: 70 }).map((depth) => {
    let value: unknown = 1
    for (let i = 0; i < depth; i++) value = [value]
    return value
  }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.constant("x".repeat(5000))
)

/** Text that is not a body any route takes: not JSON, too deep, truncated. */
const hostileText = fc.oneof(
  fc.constantFrom("", "{", "[", "null", "nul", '{"a":', "\u0000", "\uffff", "[]", "true", '"x"', "1e400"),
  fc.integer({ min: 65, max: 3000 }).map((depth) => `${"[".repeat(depth)}${"]".repeat(depth)}`),
  fc.string({ maxLength: 60 })
)

/** A valid object with one key changed to a hostile value, or removed. */
const nearValid = <A extends Record<string, unknown>>(base: fc.Arbitrary<A>) =>
  fc.tuple(base, fc.nat(), fc.option(hostileValue, { nil: undefined })).map(([value, which, replacement]) => {
    const keys = Object.keys(value)
    const key = keys[which % Math.max(1, keys.length)] ?? "x"
    const copy: Record<string, unknown> = { ...value }
    if (replacement === undefined) delete copy[key]
    else copy[key] = replacement
    return copy
  })

type Body = { readonly json: unknown } | { readonly text: string } | undefined

const bodyOf = (body: Body): string | undefined =>
  body === undefined ? undefined : "text" in body ? body.text : JSON.stringify(body.json) ?? "null"

type Action =
  | { readonly kind: "create"; readonly body: Body }
  | { readonly kind: "session"; readonly route: "/session/end" | "/session/get" | "/session/health"; readonly port: "public" | "webhook"; readonly target: number; readonly auth: "right" | "wrong" | "missing" | "hostile"; readonly hostile: unknown }
  | { readonly kind: "ping"; readonly target: number | null; readonly auth: unknown }
  | { readonly kind: "release"; readonly body: Body | "generation" | "session" }
  | { readonly kind: "raw"; readonly port: "public" | "webhook" | "control"; readonly path: string; readonly method: string; readonly body: Body }

const createBody = fc.oneof(
  { weight: 4, arbitrary: fc.record({ auth_data: validAuth, payload: fc.record({ lifetime: fc.constantFrom(30, 60, 600), on_close_route: fc.constant("http://198.51.100.9:9/cb"), on_close_payload: hostileValue }) }).map((json): Body => ({ json })) },
  { weight: 2, arbitrary: nearValid(fc.record({ auth_data: validAuth, payload: fc.record({ lifetime: fc.constant(60), on_close_route: fc.constant("http://198.51.100.9:9/cb") }) })).map((json): Body => ({ json })) },
  { weight: 2, arbitrary: fc.record({ auth_data: nearValid(validAuth), payload: fc.constant({ on_close_route: "http://198.51.100.9:9/cb" }) }).map((json): Body => ({ json })) },
  { weight: 1, arbitrary: hostileValue.map((json): Body => ({ json })) },
  { weight: 1, arbitrary: hostileText.map((text): Body => ({ text })) }
)

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: createBody.map((body): Action => ({ kind: "create", body })) },
  {
    weight: 4,
    arbitrary: fc
      .record({
        route: fc.constantFrom("/session/end" as const, "/session/get" as const, "/session/health" as const),
        port: fc.constantFrom("public" as const, "webhook" as const),
        target: fc.nat(),
        auth: fc.constantFrom("right" as const, "wrong" as const, "missing" as const, "hostile" as const),
        hostile: hostileValue
      })
      .map((fields): Action => ({ kind: "session", ...fields }))
  },
  { weight: 2, arbitrary: fc.record({ target: fc.option(fc.nat(), { nil: null }), auth: fc.oneof(validAuth, hostileValue) }).map((fields): Action => ({ kind: "ping", ...fields })) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom<Body | "generation" | "session">(undefined, "generation", "session", { json: {} }),
        hostileValue.map((json): Body => ({ json })),
        hostileText.map((text): Body => ({ text }))
      )
      .map((body): Action => ({ kind: "release", body }))
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        port: fc.constantFrom("public" as const, "webhook" as const, "control" as const),
        path: fc.constantFrom("/session/create", "/session/end", "/session/get", "/session/health", "/ping", "/pyworker/update", "/release", "/recycle", "/sessions", "/sessions?wait=abc", "/sessions?index=1e9&wait=-1", "/debug", "/metrics", "/health", "/", "/nope"),
        method: fc.constantFrom("GET", "POST", "PUT", "DELETE"),
        body: fc.oneof(hostileValue.map((json): Body => ({ json })), hostileText.map((text): Body => ({ text })))
      })
      // A /recycle on the control port retires the worker for the rest of the run, whatever its body (probe 58 #5): none is sent there.
      .filter((raw) => !(raw.path === "/recycle" && raw.method === "POST" && raw.port === "control"))
      .map((raw): Action => ({ kind: "raw", ...raw }))
  }
)

// ---- the worker under test -----------------------------------------------------------------------------

const WorkerUnderTest = Listeners.DefaultWithoutDependencies.pipe(
  Layer.provideMerge(SlotPool.DefaultWithoutDependencies),
  Layer.provideMerge(Layer.mergeAll(recordingCallbacks({ instant: true }), LoadMetrics.Default, WorkerMetrics.Default, StopSignal.Default, WorkerSelf.Default, SignatureVerifier.layerUnsecured)),
  Layer.provideMerge(NodeHttpClient.layer),
  Layer.provideMerge(testConfig({ workerPort: 0, workerHttpPort: 0, controlPort: 0, publicHost: "127.0.0.1", maxSessions: MAX_SESSIONS })),
  Layer.provide(quietLogs)
)

interface Figures {
  sequences: number
  requests: number
  statuses: Record<string, number>
  created: number
  callbacks: number
  violations: Array<string>
}

const figures: Figures = { sequences: 0, requests: 0, statuses: {}, created: 0, callbacks: 0, violations: [] }

describe("every route, generated input (fast-check)", () => {
  it.scoped(
    `${RUNS} sequences: no 5xx, one session per slot, every session closed once with one callback, finite counters`,
    () =>
      Effect.gen(function* () {
        const context = yield* Layer.build(WorkerUnderTest)
        const [publicPort, webhookPort, controlPort] = Context.get(context, Listeners).ports
        const portOf = { public: publicPort ?? 0, webhook: webhookPort ?? 0, control: controlPort ?? 0 }
        const pool = Context.get(context, SlotPool)
        const metrics = Context.get(context, LoadMetrics)
        const posted = Context.get(context, PostedCallbacks)
        const started = Date.now()

        const runSequence = (actions: ReadonlyArray<Action>) =>
          Effect.gen(function* () {
            const opened: Array<{ id: string; generation: number; auth: unknown; callback: boolean }> = []
            const violations: Array<string> = []
            const callbacksBefore = (yield* Ref.get(posted)).length
            const call = (port: keyof typeof portOf, method: string, path: string, body: string | undefined) =>
              Effect.tap(send(portOf[port], method, path, body), (answer) =>
                Effect.sync(() => {
                  figures.requests++
                  figures.statuses[String(answer.status)] = (figures.statuses[String(answer.status)] ?? 0) + 1
                  if (answer.status >= 500 || answer.status === 0) violations.push(`${method} ${path} → ${answer.status} ${answer.text.slice(0, 200)} for ${body?.slice(0, 200)}`)
                })
              )
            for (const step of actions) {
              switch (step.kind) {
                case "create": {
                  const text = bodyOf(step.body)
                  const answer = yield* call("public", "POST", "/session/create", text)
                  if (answer.status === 201) {
                    const created = JSON.parse(answer.text) as { session_id: string; generation: number }
                    const sent = step.body !== undefined && "json" in step.body ? step.body.json : undefined
                    const payload = typeof sent === "object" && sent !== null && "payload" in sent ? sent.payload : undefined
                    const callback = typeof payload === "object" && payload !== null && "on_close_route" in payload && typeof payload.on_close_route === "string"
                    opened.push({ id: created.session_id, generation: created.generation, auth: JSON.parse(text ?? "{}").auth_data, callback })
                  }
                  break
                }
                case "session": {
                  const known = opened[step.target % Math.max(1, opened.length)]
                  const sessionAuth = { right: known?.auth, wrong: { ...((known?.auth as object) ?? {}), reqnum: -1 }, missing: undefined, hostile: step.hostile }[step.auth]
                  yield* call(step.port, "POST", step.route, JSON.stringify({ session_id: known?.id ?? "unknown-id-12", session_auth: sessionAuth }))
                  break
                }
                case "ping": {
                  const known = step.target === null ? undefined : opened[step.target % Math.max(1, opened.length)]
                  yield* call("public", "POST", "/ping", JSON.stringify({ auth_data: step.auth, payload: {}, session_id: known?.id ?? null }))
                  break
                }
                case "release": {
                  const last = opened.at(-1)
                  const body =
                    step.body === "generation"
                      ? JSON.stringify({ generation: last?.generation ?? 99 })
                      : step.body === "session"
                        ? JSON.stringify({ session_id: last?.id ?? "unknown-id-12" })
                        : bodyOf(step.body)
                  yield* call("control", "POST", "/release", body)
                  break
                }
                case "raw":
                  yield* call(step.port, step.method, step.path, bodyOf(step.body))
                  break
              }
              const open = yield* pool.open
              if (open.length > MAX_SESSIONS || new Set(open.map((session) => session.id)).size !== open.length) {
                violations.push(`more open sessions than slots: ${open.length}`)
              }
            }
            yield* call("control", "POST", "/release", undefined)
            // Every created session closed exactly once; every one with a callback got exactly one.
            // A sequence closes at most 12 sessions: all of them are among the remembered closes.
            const closes = yield* pool.recentCloses
            const callbacks = (yield* Ref.get(posted)).slice(callbacksBefore)
            for (const session of opened) {
              const closed = closes.filter((close) => close.sessionId === session.id).length
              const called = callbacks.filter((callback) => callback.sessionId === session.id).length
              if (closed !== 1) violations.push(`session ${session.id} closed ${closed} times`)
              if (called !== (session.callback ? 1 : 0)) violations.push(`session ${session.id} got ${called} callbacks`)
            }
            if (callbacks.length !== opened.filter((session) => session.callback).length) {
              violations.push(`${callbacks.length} callbacks for ${opened.length} sessions`)
            }
            const snapshot = yield* metrics.snapshot
            const body = statusBody(
              { id: 1, mtoken: "", url: "" },
              { ...snapshot.counters, curLoad: snapshot.curLoad, errorMsg: snapshot.errorMsg, ready: snapshot.ready, takingNoSession: snapshot.takingNoSession, loadtime: snapshot.loadtime, workingRequestIdxs: snapshot.workingRequestIdxs, numRequestsRecieved: snapshot.numRequestsRecieved, additionalDiskUsage: 0 }
            )
            for (const [key, value] of Object.entries(body)) {
              if (typeof value === "number" && !Number.isFinite(value)) violations.push(`${key} is ${value}`)
            }
            figures.sequences++
            figures.created += opened.length
            figures.callbacks += callbacks.length
            figures.violations.push(...violations)
            return violations.length === 0
          })

        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 12 }), (actions) => Effect.runPromise(runSequence(actions))),
            { numRuns: RUNS }
          )
        ).pipe(Effect.catchAllDefect((defect) => Effect.sync(() => figures.violations.push(String(defect)))))

        if (process.env["FUZZ_REPORT"] !== undefined) {
          writeFileSync(process.env["FUZZ_REPORT"], JSON.stringify({ runs: RUNS, seconds: (Date.now() - started) / 1000, ...figures }, null, 2))
        }
        assert.deepStrictEqual(figures.violations.slice(0, 5), [])
        assert.isAtLeast(figures.sequences, RUNS)
        agent.destroy()
      }),
    { timeout: Math.max(120_000, RUNS * 100) }
  )
})
