import { mkdtempSync, readlinkSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createServer } from "node:http"
import { connect, createServer as createTcpServer, type Socket } from "node:net"
import { CreateSessionAnswer } from "../../src/protocol/session.js"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { SessionsAnswer } from "../../src/protocol/control.js"
import { FakeAutoscaler } from "../support/fakeAutoscaler.js"
import { otherWorkersLock } from "../support/processStart.js"
import { mainJs, spawnProcess } from "../support/process.js"
import { authData, cleanup, decoded, eventually, processes, request, startReceiver, startWorkerProcess, workerEnv } from "../support/workerProcess.js"

let autoscaler: FakeAutoscaler
const sockets: Array<Socket> = []
/** Temporary directories, removed once the processes using them are gone. */
const dirs: Array<string> = []
beforeEach(async () => {
  autoscaler = await FakeAutoscaler.start()
})
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await cleanup()
  await autoscaler.close()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const nested = (depth: number, leaf: unknown = 1): unknown => {
  let value = leaf
  for (let i = 0; i < depth; i++) value = { a: value }
  return value
}
const deepText = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`

describe("hostile input against the real process", () => {
  it("deeply nested JSON on every route is a 422 naming the body, never a 500, and registers nothing; /recycle, which takes any body, recycles without echoing it", async () => {
    const { controlUrl, publicUrl, webhookUrl } = await startWorkerProcess(autoscaler)
    const deep = `{"auth_data":${JSON.stringify({ ...authData(), extra: "X" }).replace('"X"', deepText(5000))},"payload":{}}`
    for (const [base, path] of [
      [publicUrl, "/session/create"],
      [publicUrl, "/session/end"],
      [publicUrl, "/session/get"],
      [publicUrl, "/session/health"],
      [publicUrl, "/ping"],
      [webhookUrl, "/session/end"],
      [controlUrl, "/release"]
    ] as const) {
      const reply = await request(`${base}${path}`, { body: deep })
      expect(reply.status, `${path}: ${reply.text}`).toBe(422)
      expect(reply.json).toMatchObject({ field: "body" })
    }
    // Its signature is not the reason reported and logged (probe 58 #5 had /recycle take any body).
    const recycled = await request(`${controlUrl}/recycle`, { body: deep })
    expect([recycled.status, recycled.json]).toEqual([200, { recycled: true, error_msg: "Recycled by the consumer", session_ids: [] }])
    const sessions = decoded(SessionsAnswer, await request(`${controlUrl}/sessions`, { method: "GET" }))
    expect(sessions.sessions).toEqual([])
    expect((await request(`${controlUrl}/release`)).json).toEqual({ released: false, reason: "no active session" })
  })

  it("a deep but allowed session_auth is compared, not crashed on", async () => {
    const { publicUrl } = await startWorkerProcess(autoscaler)
    const auth = { ...authData(), extra: nested(60) }
    const created = await request(`${publicUrl}/session/create`, { body: { auth_data: auth } })
    expect(created.status).toBe(201)
    const id = decoded(CreateSessionAnswer, created).session_id
    expect((await request(`${publicUrl}/session/end`, { body: { session_id: id, session_auth: { ...auth, extra: nested(60, 2) } } })).status).toBe(401)
    expect((await request(`${publicUrl}/session/end`, { body: { session_id: id, session_auth: auth } })).status).toBe(200)
  })

  it("an enormous cost is refused with 422; the reports stay finite", async () => {
    const { publicUrl } = await startWorkerProcess(autoscaler)
    for (const cost of [1.79e308, 1e7, "1e400", -1]) {
      const reply = await request(`${publicUrl}/session/create`, { body: { auth_data: authData({ cost }) } })
      expect(reply.status).toBe(422)
      expect(reply.json).toMatchObject({ field: "auth_data.cost" })
    }
    // Finite even in JSON: no null in place of a number.
    await autoscaler.waitForStatus((status) => status.max_perf === 100)
    expect(autoscaler.statuses.every((status) => [status.cur_load, status.rej_load, status.new_load, status.cur_perf].every(Number.isFinite))).toBe(true)
  })

  it("auth_data with __proto__ and other odd keys: created, then ended with the identical auth_data", async () => {
    const { publicUrl } = await startWorkerProcess(autoscaler)
    const auth = `{"url":"u","signature":"s","reqnum":1,"request_idx":2,"endpoint":"e","cost":100,"__proto__":{"polluted":true},"constructor":{"prototype":1}}`
    const created = await request(`${publicUrl}/session/create`, { body: `{"auth_data":${auth}}` })
    expect(created.status).toBe(201)
    const id = decoded(CreateSessionAnswer, created).session_id
    const got = await request(`${publicUrl}/session/get`, { body: `{"session_id":"${id}","session_auth":${auth}}` })
    expect(got.status).toBe(200)
    expect(got.text).toContain('"__proto__":{"polluted":true}')
    expect((await request(`${publicUrl}/session/end`, { body: `{"session_id":"${id}","session_auth":${auth}}` })).status).toBe(200)
  })

  it("integers past 2^53 in auth_data and on_close_payload: echoed, compared and called back exactly as sent", async () => {
    const { publicUrl } = await startWorkerProcess(autoscaler)
    const receiver = await startReceiver()
    const past = "9007199254740993" // JSON.parse reads it as 9007199254740992
    const auth = JSON.stringify(authData()).replace(/}$/, `,"ticket":${past}}`)
    const nearby = auth.replace(past, "9007199254740992")
    const payload = `{"on_close_route":"${receiver.url}","on_close_payload":{"job":${past},"list":[-123456789012345678901234567890]}}`
    const created = await request(`${publicUrl}/session/create`, { body: `{"auth_data":${auth},"payload":${payload}}` })
    expect(created.status).toBe(201)
    const id = decoded(CreateSessionAnswer, created).session_id
    const got = await request(`${publicUrl}/session/get`, { body: `{"session_id":"${id}","session_auth":${auth}}` })
    expect(got.status).toBe(200)
    expect(got.text).toContain(`"auth_data":${auth}`)
    expect(got.text).toContain(`"on_close_payload":{"job":${past},"list":[-123456789012345678901234567890]}`)
    // One unit apart is another auth_data, as it is to the Python worker.
    expect((await request(`${publicUrl}/session/end`, { body: `{"session_id":"${id}","session_auth":${nearby}}` })).status).toBe(401)
    expect((await request(`${publicUrl}/session/end`, { body: `{"session_id":"${id}","session_auth":${auth}}` })).status).toBe(200)
    const callback = await receiver.next()
    expect(callback.text).toContain(`"job":${past},"list":[-123456789012345678901234567890],"session_id":"${id}"`)
  })

  it("numbers past the double range (1e400) in auth_data and on_close_payload: echoed and called back as numbers (1e999), never as null; the echo ends the session", async () => {
    const { publicUrl } = await startWorkerProcess(autoscaler)
    const receiver = await startReceiver()
    const auth = JSON.stringify(authData()).replace(/}$/, ',"x":1e400,"y":-1E999}')
    const payload = `{"on_close_route":"${receiver.url}","on_close_payload":{"f":1.0e400}}`
    const created = await request(`${publicUrl}/session/create`, { body: `{"auth_data":${auth},"payload":${payload}}` })
    expect(created.status).toBe(201)
    const id = decoded(CreateSessionAnswer, created).session_id
    const got = await request(`${publicUrl}/session/get`, { body: `{"session_id":"${id}","session_auth":${auth}}` })
    expect(got.text).toContain('"x":1e999,"y":-1e999}')
    expect(got.text).toContain('"on_close_payload":{"f":1e999}')
    // What /session/get gave back is the session's auth_data: it ends the session.
    const echoed = /"auth_data":(\{[^}]*\})/.exec(got.text)?.[1]
    expect((await request(`${publicUrl}/session/end`, { body: `{"session_id":"${id}","session_auth":${echoed}}` })).status).toBe(200)
    const callback = await receiver.next()
    expect(callback.text).toContain(`{"f":1e999,"session_id":"${id}"`)
  })

  it("under a low file limit, a flood of silent connections hits the cap (logged), while the control port and the reports keep working", async () => {
    const { env, ports } = await workerEnv(autoscaler)
    const worker = spawnProcess("sh", ["-c", `ulimit -n 256 && exec "${process.execPath}" "${mainJs}"`], env)
    processes.push(worker)
    await worker.waitFor("control listening")
    await worker.waitFor(/message="connection caps" public=(\d+)/)
    for (let i = 0; i < 400; i++) {
      const socket = connect(ports.public, "127.0.0.1")
      socket.on("error", () => undefined)
      sockets.push(socket)
    }
    await eventually("the cap in the log", () => (worker.output().includes("connection cap reached") ? true : undefined))
    expect((await request(`http://127.0.0.1:${ports.control}/sessions`, { method: "GET" })).status).toBe(200)
    expect((await request(`http://127.0.0.1:${ports.control}/release`)).status).toBe(200)
    // A change made through the control port reaches the autoscaler at once.
    expect((await request(`http://127.0.0.1:${ports.control}/recycle`, { body: { reason: "flood test" } })).status).toBe(200)
    await autoscaler.waitForStatus((status) => status.error_msg === "Recycled by the consumer: flood test")
    expect(worker.child.exitCode).toBeNull()
  })

  it("a /pubkey/ answer without end is a failed attempt, not a crash: the worker keeps trying and stops cleanly", async () => {
    // An autoscaler whose key endpoint streams for ever; every other path is accepted.
    const chunk = Buffer.alloc(64 * 1024, "A")
    const endless = createServer((req, res) => {
      req.resume()
      if (req.url !== "/pubkey/") return void res.writeHead(200, { "content-type": "application/json" }).end("{}")
      res.writeHead(200, { "content-type": "text/plain" })
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      }
      res.on("drain", pump)
      pump()
    })
    const port = await new Promise<number>((resolve) =>
      endless.listen(0, "127.0.0.1", () => {
        const address = endless.address()
        resolve(typeof address === "object" && address !== null ? address.port : 0)
      })
    )
    try {
      const { env } = await workerEnv(autoscaler, { REPORT_ADDR: `http://127.0.0.1:${port}`, UNSECURED: "false" })
      const worker = spawnProcess(process.execPath, [mainJs], env)
      processes.push(worker)
      await worker.waitFor("fetch attempt 1 failed: the body is larger than 64 KB", 15_000)
      await worker.waitFor("fetch attempt 2 failed: the body is larger than 64 KB", 15_000)
      expect(worker.child.exitCode).toBeNull()
      worker.child.kill("SIGTERM")
      expect(await worker.exited).toBe(0)
    } finally {
      endless.closeAllConnections()
      await new Promise((resolve) => endless.close(resolve))
    }
  })

  it("a second worker beside one that serves the instance exits at once, before it binds or reports anything", async () => {
    const first = await startWorkerProcess(autoscaler)
    await autoscaler.waitForStatus((status) => status.max_perf === 100)
    // The duplicate's reports would carry its token: none may come.
    const duplicate = spawnProcess(process.execPath, [mainJs], { ...first.env, MASTER_TOKEN: "duplicate", BIND_RETRY_SECONDS: "5" })
    processes.push(duplicate)
    expect(await duplicate.exited).toBe(1)
    expect(duplicate.output()).toContain(`another null worker already serves this instance (it answers on NULL_CONTROL_PORT ${first.ports.control}): not starting, not reporting; exiting (a second worker on one machine needs its own NULL_CONTROL_PORT)`)
    expect(duplicate.output()).not.toContain("trying again")
    expect(duplicate.output()).not.toContain("listening")
    // A report the first worker sends after the duplicate is gone (a session taken) comes after anything the duplicate sent.
    await request(`${first.publicUrl}/session/create`, { body: { auth_data: authData() } })
    await autoscaler.waitForStatus((status) => status.cur_load === 100)
    expect(autoscaler.statuses.filter((status) => status.mtoken === "duplicate")).toEqual([])
    expect(autoscaler.statuses.every((status) => status.error_msg === "")).toBe(true)
    expect(first.worker.child.exitCode).toBeNull()
  })

  it("two launched in the same moment with one OUTBOX_FILE: the one that loses the journal's lock finds the other serving by then, and exits without reporting (probe 55 #1)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-twins-"))
    dirs.push(dir)
    const outbox = join(dir, "outbox.jsonl")
    // The winner's lock, taken before either listens: both passed the look made before anything is built.
    symlinkSync(otherWorkersLock(), `${outbox}.lock`)
    const { env } = await workerEnv(autoscaler, { OUTBOX_FILE: outbox, BIND_RETRY_SECONDS: "2", MASTER_TOKEN: "twin" })
    const twin = spawnProcess(process.execPath, [mainJs], env)
    processes.push(twin)
    await twin.waitFor(`OUTBOX_FILE ${outbox} cannot be used: it is in use by process`, 15_000)
    // Meanwhile the winner's control port comes up: a stand-in answering /sessions as a serving worker does.
    const winner = createServer((_, res) => void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ sessions: [], draining: false, index: 0 })))
    await new Promise<void>((listening) => winner.listen(Number(env["NULL_CONTROL_PORT"]), "127.0.0.1", listening))
    try {
      expect(await twin.exited).toBe(1)
      expect(twin.output()).toContain(`cannot be used: it is in use by process ${process.ppid} (${outbox}.lock): another null worker already serves this instance; not reporting, exiting`)
      expect(twin.output()).not.toContain("reporting the launch failure")
      expect(autoscaler.statuses.filter((status) => status.mtoken === "twin")).toEqual([])
    } finally {
      winner.closeAllConnections()
      await new Promise((closed) => winner.close(closed))
    }
  })

  it("a launch that fails for its own reason (a certificate missing) while a predecessor drains is reported: only a serving worker keeps it quiet (review 61 #3)", async () => {
    const { env } = await workerEnv(autoscaler, { USE_SSL: "true", WORKER_TLS_CERT: "/nonexistent/cert.pem", MASTER_TOKEN: "successor-misconfigured" })
    const predecessor = createServer((_, res) => void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ sessions: [], draining: true, index: 0 })))
    await new Promise<void>((listening) => predecessor.listen(Number(env["NULL_CONTROL_PORT"]), "127.0.0.1", listening))
    try {
      const worker = spawnProcess(process.execPath, [mainJs], env)
      processes.push(worker)
      const reported = await autoscaler.waitForStatus((status) => status.mtoken === "successor-misconfigured" && status.error_msg !== "", 20_000)
      expect(reported.error_msg).toContain("Failed to get SSL Certificate: WORKER_TLS_CERT")
      expect(worker.output()).not.toContain("another null worker already serves")
      worker.child.kill("SIGTERM")
      expect(await worker.exited).toBe(0)
    } finally {
      predecessor.closeAllConnections()
      await new Promise((closed) => predecessor.close(closed))
    }
  })

  it("a control port held by something that is not a null worker (silent, or answering garbage) is no duplicate: the start goes on and reports the taken port", async () => {
    for (const answer of [null, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"] as const) {
      const holder = createTcpServer()
      holder.on("connection", (socket) => {
        sockets.push(socket)
        if (answer !== null) socket.once("data", () => socket.end(answer))
      })
      await new Promise<void>((listening) => holder.listen(0, "127.0.0.1", listening))
      try {
        const port = (holder.address() as { port: number }).port
        const { env } = await workerEnv(autoscaler, { NULL_CONTROL_PORT: String(port), BIND_RETRY_SECONDS: "0", MASTER_TOKEN: `held-${answer === null ? "silent" : "garbage"}` })
        const worker = spawnProcess(process.execPath, [mainJs], env)
        processes.push(worker)
        const reported = await autoscaler.waitForStatus((status) => status.mtoken === env["MASTER_TOKEN"] && status.error_msg !== "", 20_000)
        expect(reported.error_msg).toContain(`(NULL_CONTROL_PORT): EADDRINUSE`)
        expect(worker.output()).not.toContain("another null worker already serves")
        worker.child.kill("SIGTERM")
        expect(await worker.exited).toBe(0)
      } finally {
        for (const socket of sockets.splice(0)) socket.destroy()
        await new Promise((closed) => holder.close(closed))
      }
    }
  })

  it.each([
    ["the ports", false],
    ["the journal, then the ports", true]
  ] as const)("a successor started while its predecessor drains waits for %s, reporting nothing until it holds them, then serves", async (_, journalled) => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-successor-"))
    dirs.push(dir)
    const outbox = join(dir, "outbox.jsonl")
    const first = await startWorkerProcess(autoscaler, { DRAIN_TIMEOUT: "60", ...(journalled ? { OUTBOX_FILE: outbox } : {}) })
    await autoscaler.waitForStatus((status) => status.max_perf === 100)
    const created = decoded(CreateSessionAnswer, await request(`${first.publicUrl}/session/create`, { body: { auth_data: authData() } }))
    first.worker.child.kill("SIGTERM")
    await eventually("the first worker draining", async () => {
      const sessions = decoded(SessionsAnswer, await request(`${first.controlUrl}/sessions`, { method: "GET" }))
      return sessions.draining ? true : undefined
    })
    // At debug level each try is said (the first as a warning, the others at debug).
    const successor = spawnProcess(process.execPath, [mainJs], { ...first.env, MASTER_TOKEN: "successor", BIND_RETRY_SECONDS: "30", LOG_LEVEL: "debug" })
    processes.push(successor)
    // The journal is opened before the listeners bind: its lock is what the successor waits for first. Three tries, a
    // second apart: longer than a reporter started at once would wait for its first report (1 s).
    const waitingFor = journalled ? `OUTBOX_FILE ${outbox} cannot be used: it is in use by process ${first.worker.child.pid} (${outbox}.lock); trying again` : "(WORKER_PORT): EADDRINUSE; trying again"
    await eventually("three tries", async () => (successor.output().split(waitingFor).length - 1 >= 3 ? true : undefined), 20_000)
    expect(autoscaler.statuses.filter((status) => status.mtoken === "successor")).toEqual([])
    // The predecessor's last session ends: it stops, and the successor gets the ports and reports itself ready.
    await request(`${first.publicUrl}/session/end`, { body: { session_id: created.session_id, session_auth: authData() } })
    expect(await first.worker.exited).toBe(0)
    const ready = await autoscaler.waitForStatus((status) => status.mtoken === "successor" && status.max_perf === 100, 20_000)
    expect(ready.error_msg).toBe("")
    expect(autoscaler.statuses.filter((status) => status.mtoken === "successor")[0]).toBe(ready)
    expect(successor.child.exitCode).toBeNull()
    if (journalled) expect(readlinkSync(`${outbox}.lock`)).toMatch(new RegExp(`^${successor.child.pid}:\\d+$`))
  })

  it("a second worker given the same OUTBOX_FILE (its own ports) waits BIND_RETRY_SECONDS for the journal's lock, then fails its launch naming the holder", async () => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-dup-"))
    dirs.push(dir)
    const outbox = join(dir, "outbox.jsonl")
    const first = await startWorkerProcess(autoscaler, { OUTBOX_FILE: outbox })
    await autoscaler.waitForStatus((status) => status.max_perf === 100)
    const { env } = await workerEnv(autoscaler, { OUTBOX_FILE: outbox, BIND_RETRY_SECONDS: "1", MASTER_TOKEN: "second" })
    const second = spawnProcess(process.execPath, [mainJs], env)
    processes.push(second)
    const failure = `Worker Server failed to launch: OUTBOX_FILE ${outbox} cannot be used: it is in use by process ${first.worker.child.pid}`
    await autoscaler.waitForStatus((status) => status.mtoken === "second" && status.error_msg.startsWith(failure), 20_000)
    // One retry (BIND_RETRY_SECONDS 1): "trying again" once, not after the last try.
    expect(second.output().split(`OUTBOX_FILE ${outbox} cannot be used: it is in use by process ${first.worker.child.pid} (${outbox}.lock); trying again`)).toHaveLength(2)
    expect(autoscaler.statuses.filter((status) => status.mtoken !== "second").every((status) => status.error_msg === "")).toBe(true)
    expect(first.worker.child.exitCode).toBeNull()
    // The lock still names the first worker (a link to `<pid>:<start time>`).
    expect(readlinkSync(`${outbox}.lock`)).toMatch(new RegExp(`^${first.worker.child.pid}:\\d+$`))
  })
})
