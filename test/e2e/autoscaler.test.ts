import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { request as httpsRequest } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { FakeAutoscaler } from "../support/fakeAutoscaler.js"
import { tracked } from "../support/cleanup.js"
import { freePort, spawnWorker } from "../support/process.js"

const { cleanup, processes: started, servers } = tracked()
const dirs: Array<string> = []
let autoscaler: FakeAutoscaler

beforeEach(async () => {
  autoscaler = await FakeAutoscaler.start()
})

afterEach(async () => {
  await cleanup()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  await autoscaler.close()
})

const post = async (url: string, body: unknown) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
  const text = await response.text()
  return { status: response.status, text, json: text === "" ? null : (JSON.parse(text) as Record<string, unknown>) }
}

/** Ports and the env of a worker that reports to the fake autoscaler. */
const workerEnv = async (extra: Record<string, string> = {}) => {
  const [workerPort, httpPort, controlPort] = [await freePort(), await freePort(), await freePort()]
  return {
    workerPort,
    controlPort,
    env: {
      WORKER_PORT: String(workerPort),
      WORKER_HTTP_PORT: String(httpPort),
      NULL_CONTROL_PORT: String(controlPort),
      REPORT_ADDR: autoscaler.url,
      CONTAINER_ID: "31337",
      MASTER_TOKEN: "tok",
      PUBLIC_IPADDR: "127.0.0.1",
      [`VAST_TCP_PORT_${workerPort}`]: String(workerPort),
      HEALTHCHECK_INTERVAL: "0.05",
      ...extra
    }
  }
}

const launch = (env: Record<string, string>) => {
  const worker = spawnWorker(env)
  started.push(worker)
  return worker
}

/** A consumer health endpoint whose status the test sets. */
const startHealthTarget = async () => {
  const state = { status: 200 }
  const server = createServer((_, response) => response.writeHead(state.status).end())
  servers.push(server)
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve(typeof address === "object" && address !== null ? address.port : 0)
    })
  )
  return { state, url: `http://127.0.0.1:${port}/health` }
}

describe("the real process with an autoscaler", () => {
  it("signed reservations, and the load reports that tell the autoscaler about them", async () => {
    const { env, workerPort } = await workerEnv()
    const worker = launch(env)
    const base = `http://127.0.0.1:${workerPort}`
    const url = `http://127.0.0.1:${workerPort}`

    const ready = await autoscaler.waitForStatus((s) => s.max_perf === 100)
    expect(ready.loadtime).toBeGreaterThan(0)
    expect(ready.url).toBe(url)
    expect([ready.id, ready.mtoken, ready.version]).toEqual([31337, "tok", "1.1.0"])
    // Capacity is never advertised before readiness: every report with max_perf 100 carries its loadtime.
    expect(autoscaler.statuses.every((s) => s.max_perf === 0 || s.loadtime > 0)).toBe(true)
    expect(autoscaler.pubkeyRequests).toBe(1)

    const forged = autoscaler.authData(url, { signature: autoscaler.sign("http://198.51.100.1:1"), request_idx: 1 })
    expect((await post(`${base}/session/create`, { auth_data: forged })).status).toBe(401)
    const auth = autoscaler.authData(url, { request_idx: 4242 })
    const created = await post(`${base}/session/create`, { auth_data: auth, payload: { lifetime: 60 } })
    expect(created.status).toBe(201)
    const busy = await autoscaler.waitForStatus((s) => s.cur_load === 100)
    expect(busy.working_request_idxs).toEqual([4242])
    expect(busy.num_requests_working).toBe(1)

    expect((await post(`${base}/session/create`, { auth_data: autoscaler.authData(url, { request_idx: 4243 }) })).status).toBe(429)
    await autoscaler.waitForStatus((s) => s.rej_load > 0 && s.cur_load === 100)

    const sessionId = String(created.json?.["session_id"])
    expect((await post(`${base}/ping`, { auth_data: auth, payload: {}, session_id: sessionId })).status).toBe(200)
    expect((await post(`${base}/session/end`, { session_id: sessionId, session_auth: auth })).status).toBe(200)
    const idle = await autoscaler.waitForStatus((s) => s.cur_load === 0 && s.cur_perf > 0)
    expect(idle.working_request_idxs).toEqual([])

    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`deletions: ${JSON.stringify(autoscaler.deletions)}`)), 5000)
      const poll = setInterval(() => {
        const records = autoscaler.deletions.flatMap((d) => d.requests)
        const byIdx = new Map(records.map((r) => [r.request_idx, [r.status, r.success]]))
        if (byIdx.get(4242)?.[0] === "Success" && byIdx.get(4243)?.[0] === "Rejected") {
          clearInterval(poll)
          clearTimeout(deadline)
          expect(byIdx.get(4242)).toEqual(["Success", true])
          expect(byIdx.get(4243)).toEqual(["Rejected", false])
          // The forged create (request_idx 1) is nobody's demand: no record of it reaches the autoscaler.
          expect(byIdx.has(1)).toBe(false)
          resolve()
        }
      }, 20)
    })
    worker.child.kill("SIGTERM")
    expect(await worker.exited).toBe(0)
  })

  it("a draining worker says so in its next report (max_perf 0, its session still in cur_load), and the creates it refuses are rejected load with Rejected records", async () => {
    const { env, workerPort } = await workerEnv({ DRAIN_TIMEOUT: "30" })
    const worker = launch(env)
    const base = `http://127.0.0.1:${workerPort}`
    await autoscaler.waitForStatus((s) => s.max_perf === 100)
    const auth = autoscaler.authData(base, { request_idx: 500 })
    const created = await post(`${base}/session/create`, { auth_data: auth, payload: { lifetime: 60 } })
    expect(created.status).toBe(201)
    await autoscaler.waitForStatus((s) => s.cur_load === 100 && s.max_perf === 100)
    const before = autoscaler.statuses.length
    worker.child.kill("SIGTERM")
    // A report before readiness also says max_perf 0; this one holds the session.
    const draining = await autoscaler.waitForStatus((s) => s.max_perf === 0 && s.cur_load === 100)
    expect([draining.cur_load, draining.working_request_idxs, draining.error_msg]).toEqual([100, [500], ""])
    for (const idx of [501, 502]) {
      expect((await post(`${base}/session/create`, { auth_data: autoscaler.authData(base, { request_idx: idx }) })).status).toBe(429)
    }
    await autoscaler.waitForStatus(() => autoscaler.statuses.slice(before).reduce((sum, s) => sum + s.rej_load, 0) === 200)
    // Every report from the signal on says there is no room, until the worker is gone.
    expect(autoscaler.statuses.slice(autoscaler.statuses.indexOf(draining)).map((s) => s.max_perf)).not.toContain(100)
    const rejected = () => autoscaler.deletions.flatMap((d) => d.requests).filter((r) => r.status === "Rejected").map((r) => r.request_idx)
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`deletions: ${JSON.stringify(autoscaler.deletions)}`)), 5000)
      const poll = setInterval(() => {
        if (rejected().length < 2) return
        clearInterval(poll)
        clearTimeout(deadline)
        resolve()
      }, 20)
    })
    expect(rejected()).toEqual([501, 502])
    expect((await post(`${base}/session/end`, { session_id: created.json?.["session_id"], session_auth: auth })).status).toBe(200)
    expect(await worker.exited).toBe(0)
    expect([autoscaler.statuses.at(-1)?.cur_load, autoscaler.statuses.at(-1)?.max_perf]).toEqual([0, 0])
  })

  it("a consumer that turns unhealthy after its first success is reported as error_msg", async () => {
    const health = await startHealthTarget()
    const { env } = await workerEnv({ BACKEND_HEALTH_URL: health.url, UNSECURED: "true" })
    launch(env)
    await autoscaler.waitForStatus((s) => s.max_perf === 100)
    health.state.status = 500
    const errored = await autoscaler.waitForStatus((s) => s.error_msg !== "")
    expect(errored.error_msg).toBe("Healthcheck failed with status: 500")
  })

  it("USE_SSL=true serves the public port over TLS with the configured certificate; the webhook port stays HTTP", async () => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-tls-"))
    dirs.push(dir)
    const [cert, key] = [join(dir, "cert.pem"), join(dir, "key.pem")]
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"
    ], { stdio: "ignore" })
    const { env, workerPort } = await workerEnv({ USE_SSL: "true", WORKER_TLS_CERT: cert, WORKER_TLS_KEY: key, UNSECURED: "true" })
    const worker = launch(env)
    await worker.waitFor("public API (TLS) listening")
    const ready = await autoscaler.waitForStatus((s) => s.max_perf === 100)
    expect(ready.url).toBe(`https://127.0.0.1:${workerPort}`)
    const body = JSON.stringify({ auth_data: autoscaler.authData(ready.url), payload: { lifetime: 30 } })
    const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpsRequest(
        `https://127.0.0.1:${workerPort}/session/create`,
        { method: "POST", ca: readFileSync(cert), headers: { "content-type": "application/json" } },
        (response) => {
          let text = ""
          response.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
          response.on("end", () => resolve({ status: response.statusCode ?? 0, text }))
        }
      )
      req.on("error", reject)
      req.end(body)
    })
    expect(reply.status).toBe(201)
    expect(JSON.parse(reply.text)).toHaveProperty("session_id")
    // Plain HTTP to the TLS port fails; the webhook port answers plain HTTP.
    await expect(fetch(`http://127.0.0.1:${workerPort}/session/create`, { method: "POST", body })).rejects.toThrow()
    const webhook = await post(`http://127.0.0.1:${env.WORKER_HTTP_PORT}/session/end`, { session_id: "nope", session_auth: {} })
    expect(webhook.status).toBe(400)
  })

  it("a certificate that cannot be read is a launch failure reported to the autoscaler, and the process stays up to keep reporting it", async () => {
    const { env } = await workerEnv({ USE_SSL: "true", WORKER_TLS_CERT: "/nonexistent/cert.pem", UNSECURED: "true" })
    const worker = launch(env)
    const reported = await autoscaler.waitForStatus((s) => s.error_msg !== "")
    expect(reported.error_msg).toMatch(/^Worker Server failed to launch: Failed to get SSL Certificate: /)
    expect([reported.id, reported.max_perf]).toEqual([31337, 0])
    expect(worker.child.exitCode).toBeNull()
    worker.child.kill("SIGTERM")
    expect(await worker.exited).toBe(0)
  })

  it("an OUTBOX_FILE that cannot be the journal is a launch failure naming it, not a silent exit 0: a directory, or a journal another live process holds", async () => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-outbox-"))
    dirs.push(dir)
    const asDirectory = launch((await workerEnv({ OUTBOX_FILE: dir, UNSECURED: "true" })).env)
    const first = await autoscaler.waitForStatus((s) => s.error_msg !== "")
    expect(first.error_msg).toMatch(new RegExp(`^Worker Server failed to launch: invalid configuration: OUTBOX_FILE: ${dir} is a directory, not a regular file \\(pid \\d+\\)$`))
    asDirectory.child.kill("SIGTERM")
    expect(await asDirectory.exited).toBe(0)

    // This test process is alive: its pid in the lock means the journal is in use.
    writeFileSync(join(dir, "outbox.jsonl.lock"), `${process.pid}\n`)
    // Tried again for BIND_RETRY_SECONDS, as a predecessor still stopping would let it go: 1 s here.
    const locked = launch((await workerEnv({ OUTBOX_FILE: join(dir, "outbox.jsonl"), UNSECURED: "true", BIND_RETRY_SECONDS: "1" })).env)
    const second = await autoscaler.waitForStatus((s) => s.error_msg !== "" && s.error_msg !== first.error_msg)
    // The report names the variable and why, as the log does.
    expect(second.error_msg).toBe(
      `Worker Server failed to launch: OUTBOX_FILE ${join(dir, "outbox.jsonl")} cannot be used: it is in use by process ${process.pid} (${join(dir, "outbox.jsonl.lock")}) (pid ${locked.child.pid})`
    )
    expect(locked.child.exitCode).toBeNull()
    locked.child.kill("SIGTERM")
    expect(await locked.exited).toBe(0)
    expect(locked.output()).toContain(`OUTBOX_FILE ${join(dir, "outbox.jsonl")} cannot be used: it is in use by process ${process.pid}`)
  })

  it("a key that does not match the certificate is reported as one line naming both variables, with no stack or local paths", async () => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-tls-"))
    dirs.push(dir)
    for (const pair of ["a", "b"]) {
      execFileSync("openssl", [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, `${pair}.key`), "-out", join(dir, `${pair}.crt`), "-days", "1", "-subj", "/CN=127.0.0.1"
      ], { stdio: "ignore" })
    }
    const { env } = await workerEnv({ USE_SSL: "true", WORKER_TLS_CERT: join(dir, "a.crt"), WORKER_TLS_KEY: join(dir, "b.key"), UNSECURED: "true" })
    const worker = launch(env)
    const reported = await autoscaler.waitForStatus((s) => s.error_msg !== "")
    expect(reported.error_msg).toMatch(
      /^Worker Server failed to launch: Failed to get SSL Certificate: WORKER_TLS_CERT\/WORKER_TLS_KEY: the key does not match the certificate \(error:[^)]*key values mismatch\) \(pid \d+\)$/
    )
    worker.child.kill("SIGTERM")
    expect(await worker.exited).toBe(0)
  })

  it("a port still taken after the bind retries is a launch failure reported to the autoscaler, naming the cause and the process", async () => {
    const { env, workerPort } = await workerEnv({ UNSECURED: "true", BIND_RETRY_SECONDS: "1" })
    const blocker = createServer()
    servers.push(blocker)
    await new Promise<void>((resolve) => blocker.listen(workerPort, "0.0.0.0", () => resolve()))
    const worker = launch(env)
    const reported = await autoscaler.waitForStatus((s) => s.error_msg !== "")
    expect(reported.error_msg).toMatch(/^Worker Server failed to launch: public API: cannot listen on \*:\d+ \(WORKER_PORT\): EADDRINUSE \(pid \d+\)$/)
    expect(worker.output()).toContain("trying again")
    expect(worker.child.exitCode).toBeNull()
    worker.child.kill("SIGTERM")
    expect(await worker.exited).toBe(0)
  })

  it("SIGHUP stops a worker still retrying a taken port, or reporting its failed launch, as SIGTERM does: exit 0, 'worker stopped', the exit marker", async () => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-hup-"))
    dirs.push(dir)
    for (const [when, retrySeconds] of [["during the bind retries", "30"], ["while reporting the failed launch", "1"]] as const) {
      const marker = join(dir, `exit-${retrySeconds}`)
      const { env, workerPort } = await workerEnv({ UNSECURED: "true", BIND_RETRY_SECONDS: retrySeconds, NULL_EXIT_FILE: marker })
      const blocker = createServer()
      servers.push(blocker)
      await new Promise<void>((resolve) => blocker.listen(workerPort, "0.0.0.0", () => resolve()))
      const worker = launch(env)
      if (retrySeconds === "30") await worker.waitFor("trying again")
      else await autoscaler.waitForStatus((s) => s.error_msg.includes(`(pid ${worker.child.pid})`))
      worker.child.kill("SIGHUP")
      expect(await worker.exited, when).toBe(0)
      expect(worker.output(), when).toContain('message="worker stopped"')
      expect(readFileSync(marker, "utf8"), when).toContain(String(worker.child.pid))
    }
  })

  it("an invalid environment is reported to the autoscaler when REPORT_ADDR and CONTAINER_ID are usable", async () => {
    const worker = launch({ REPORT_ADDR: autoscaler.url, CONTAINER_ID: "31337", NULL_MAX_SESSIONS: "0", UNSECURED: "maybe" })
    const reported = await autoscaler.waitForStatus((s) => s.error_msg !== "")
    for (const name of ["WORKER_PORT", "NULL_MAX_SESSIONS", "UNSECURED", "PUBLIC_IPADDR"]) expect(reported.error_msg).toContain(name)
    expect(reported.url).toBe("")
    worker.child.kill("SIGTERM")
    expect(await worker.exited).toBe(0)
  })
})
