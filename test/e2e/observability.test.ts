import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import packageJson from "../../package.json" with { type: "json" }
import { CreateSessionAnswer } from "../../src/protocol/session.js"
import { mainJs } from "../support/process.js"
import { hasPromtool, promtoolCheck, skipWithoutPromtool } from "../support/promtool.js"
import { authData, autoscalerPerTest, decoded, eventually, request, startReceiver, startWorkerProcess } from "../support/workerProcess.js"

const autoscaler = autoscalerPerTest()

/** One session's whole life: create (with a callback), ping, a 429, end; then the callback arrives. */
const sessionLife = async (publicUrl: string) => {
  const receiver = await startReceiver()
  const created = decoded(
    CreateSessionAnswer,
    await request(`${publicUrl}/session/create`, { body: { auth_data: authData(), payload: { lifetime: 60, on_close_route: `${receiver.url}/done` } } })
  )
  expect((await request(`${publicUrl}/ping`, { body: { auth_data: authData(), payload: {}, session_id: created.session_id } })).status).toBe(200)
  expect((await request(`${publicUrl}/session/create`, { body: { auth_data: authData({ request_idx: 9 }) } })).status).toBe(429)
  expect((await request(`${publicUrl}/session/end`, { body: { session_id: created.session_id, session_auth: authData() } })).status).toBe(200)
  await receiver.next()
  return created.session_id
}

describe("observability", () => {
  it("node dist/main.js --help prints the variable reference and exits 0; --version prints the version", () => {
    const help = execFileSync(process.execPath, [mainJs, "--help"], { encoding: "utf8" })
    for (const name of ["WORKER_PORT", "REPORT_ADDR", "DRAIN_TIMEOUT", "MAX_SESSION_SECONDS", "HEALTH_FAILURE_THRESHOLD", "OUTBOX_FILE", "LOG_FORMAT"]) {
      expect(help).toContain(name)
    }
    expect(help).not.toMatch(/\u001b\[/)
    expect(execFileSync(process.execPath, [mainJs, "--version"], { encoding: "utf8" })).toBe(`null-worker ${packageJson.version}\n`)
  })

  it("LOG_FORMAT=json: every line is a JSON record; session events carry their fields; no fiber ids; secrets stay out", async () => {
    // A token no header can carry, and a USE_SSL that is almost true: each is warned about, the token never quoted.
    const { publicUrl, worker } = await startWorkerProcess(autoscaler(), { LOG_FORMAT: "json", MASTER_TOKEN: "super-secret-token ", USE_SSL: "True" })
    const sessionId = await sessionLife(publicUrl)
    worker.child.kill("SIGTERM")
    expect(await worker.exited).toBe(0)
    const records = worker
      .output()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(records.every((record) => typeof record["timestamp"] === "string" && typeof record["level"] === "string" && !("fiber" in record))).toBe(true)
    const started = records.find((record) => record["message"] === "worker started")
    expect(started).toMatchObject({ unsecured: true, master_token: "set", drain_timeout: 30 })
    expect(worker.output()).not.toContain("super-secret-token")
    expect(records.some((record) => record["level"] === "WARN" && String(record["message"]).startsWith("UNSECURED=true"))).toBe(true)
    const warned = (start: string) => records.filter((record) => record["level"] === "WARN" && String(record["message"]).startsWith(start)).length
    expect([warned("MASTER_TOKEN begins or ends with whitespace"), warned('USE_SSL is "True", not exactly "true"')]).toEqual([1, 1])
    expect(records.find((record) => record["message"] === "session created")).toMatchObject({
      session_id: sessionId,
      generation: 1,
      cost: 100,
      lifetime: 60,
      request_idx: 4242
    })
    expect(records.find((record) => record["message"] === "session closed")).toMatchObject({ session_id: sessionId, reason: "ended" })
    expect(records.at(-1)?.["message"]).toBe("worker stopped")
  })

  it("LOG_LEVEL=warning drops the info lines", async () => {
    const { publicUrl, worker } = await startWorkerProcess(autoscaler(), { LOG_LEVEL: "warning" })
    await sessionLife(publicUrl)
    worker.child.kill("SIGTERM")
    expect(await worker.exited).toBe(0)
    expect(worker.output()).not.toContain("level=INFO")
    expect(worker.output()).toContain("level=WARN")
  })

  it("an unreachable autoscaler() is logged with its cause, once, not at every report", async () => {
    const { worker } = await startWorkerProcess(autoscaler())
    await autoscaler().close()
    // The next report comes at the next heartbeat (10 s apart), then its three attempts 2 s apart: 16.3 s seen at a load
    // average of 11. A failure never logged would never come.
    await eventually("the report failure", () => (worker.output().includes("did not accept /worker_status/") ? true : undefined), 40_000)
    expect(worker.output()).toMatch(/causes=".*ECONNREFUSED/)
    worker.child.kill("SIGTERM")
    expect(await worker.exited).toBe(0)
    expect(worker.output().split("did not accept /worker_status/").length - 1).toBe(1)
  })

  it("GET /metrics after a session's life: the counters and states say what happened", async () => {
    const { controlUrl, publicUrl } = await startWorkerProcess(autoscaler())
    await sessionLife(publicUrl)
    await autoscaler().waitForStatus((status) => status.max_perf === 100)
    const metrics = await eventually("a delivered callback in /metrics", async () => {
      const text = (await request(`${controlUrl}/metrics`, { method: "GET" })).text
      return text.includes('null_worker_callback_deliveries_total{outcome="delivered"} 1') ? text : undefined
    })
    for (const line of [
      'null_worker_slots{state="idle"} 1',
      'null_worker_slots{state="reserved"} 0',
      "null_worker_sessions_opened_total 1",
      'null_worker_sessions_closed_total{reason="ended"} 1',
      "null_worker_session_duration_seconds_count 1",
      'null_worker_requests_total{route="/session/create",status="201"} 1',
      'null_worker_requests_total{route="/session/create",status="429"} 1',
      'null_worker_requests_total{route="/ping",status="200"} 1',
      "null_worker_callback_pending 0",
      "null_worker_ready 1",
      "null_worker_errored 0"
    ]) {
      expect(metrics).toContain(line)
    }
    expect(metrics).toMatch(/null_worker_autoscaler_reports_total\{outcome="accepted"\} [1-9]/)
    expect(metrics).toMatch(/null_worker_autoscaler_report_seconds_count [1-9]/)
    expect(metrics).toContain("process_resident_memory_bytes")
  })

  it.skipIf(skipWithoutPromtool)("promtool check metrics accepts the worker's /metrics", async () => {
    expect(hasPromtool, "promtool is not installed (Debian/Ubuntu: apt-get install prometheus)").toBe(true)
    const { controlUrl, publicUrl } = await startWorkerProcess(autoscaler())
    await sessionLife(publicUrl)
    const result = await promtoolCheck((await request(`${controlUrl}/metrics`, { method: "GET" })).text)
    expect(result.output).toBe("")
    expect(result.code).toBe(0)
  })
})
