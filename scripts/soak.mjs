// npm run soak -- --minutes N [--rate R]: one real worker (dist/main.js) under a random mix of valid and
// hostile traffic, with faults: the callback target flaps (200, 500, hangs, refuses), the autoscaler goes
// down and slow, the consumer's health flaps. Every minute it prints one line: requests, statuses, the
// worker's RSS and open file descriptors, its event-loop delay p99, and invariant violations so far.
// At the end traffic stops, faults heal, and it checks that every created session got exactly one callback.
// Exit 0 when there were no violations.
import { spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import http from "node:http"
import { refuse, scriptArgs } from "./scriptArgs.mjs"
import { freePort } from "./freePort.mjs"

const usage = `usage: npm run soak -- [--minutes N] [--rate R]

Runs one real worker (dist/main.js) under a random mix of valid and hostile traffic, with faults (callback target,
autoscaler and consumer health flapping), for N minutes (default 5) at about R requests a second (default 200).
Prints one line a minute; exit status 0 when no invariant was broken.
`
const options = scriptArgs({ minutes: { type: "string", default: "5" }, rate: { type: "string", default: "200" } }, usage)
const minutes = Number(options.minutes)
const rate = Number(options.rate) // requests per second, roughly
for (const [flag, value, parsed] of [["minutes", options.minutes, minutes], ["rate", options.rate, rate]]) {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || !(parsed > 0)) refuse(flag, "a number above 0", value, usage)
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const pick = (items) => items[Math.floor(Math.random() * items.length)]


const listen = (handler) =>
  new Promise((resolve) => {
    const server = http.createServer(handler)
    server.listen(0, "127.0.0.1", () => resolve({ server, port: server.address().port }))
  })

// --- the fakes, with fault modes that change over time ---------------------------------------------------
const faults = { callback: "ok", autoscaler: "ok", health: "ok" }
const callbacksBySession = new Map()
const violations = []
const reportsSeen = { count: 0 }

const callbackTarget = await listen((req, res) => {
  let text = ""
  req.on("data", (chunk) => (text += chunk))
  req.on("end", () => {
    if (faults.callback === "hang") return
    if (faults.callback === "refuse") return req.socket.destroy()
    if (faults.callback === "500") return void res.writeHead(500).end()
    try {
      const body = JSON.parse(text)
      callbacksBySession.set(body.session_id, (callbacksBySession.get(body.session_id) ?? 0) + 1)
    } catch {
      violations.push(`callback body is not JSON: ${text.slice(0, 100)}`)
    }
    res.writeHead(200).end()
  })
})

const autoscaler = await listen((req, res) => {
  let text = ""
  req.on("data", (chunk) => (text += chunk))
  req.on("end", async () => {
    if (req.url === "/worker_status/") {
      reportsSeen.count++
      try {
        const body = JSON.parse(text)
        for (const key of ["cur_load", "rej_load", "new_load", "cur_perf", "max_perf", "loadtime"]) {
          if (typeof body[key] !== "number" || !Number.isFinite(body[key])) violations.push(`report ${key} = ${body[key]}`)
        }
      } catch {
        violations.push("a report that is not JSON")
      }
    }
    if (faults.autoscaler === "down") return void res.writeHead(503).end()
    if (faults.autoscaler === "slow") await sleep(4000)
    res.writeHead(200, { "content-type": "application/json" }).end("{}")
  })
})

const health = await listen((req, res) => {
  if (faults.health === "slow") return void setTimeout(() => res.writeHead(200).end("ok"), 1500)
  if (faults.health === "503") return void res.writeHead(503).end()
  res.writeHead(200).end("ok")
})

// --- the worker ------------------------------------------------------------------------------------------
const [publicPort, webhookPort, controlPort] = [await freePort(), await freePort(), await freePort()]
const worker = spawn(process.execPath, ["dist/main.js"], {
  stdio: ["ignore", "ignore", "inherit"],
  env: {
    PATH: process.env.PATH,
    WORKER_PORT: String(publicPort),
    WORKER_HTTP_PORT: String(webhookPort),
    NULL_CONTROL_PORT: String(controlPort),
    REPORT_ADDR: `http://127.0.0.1:${autoscaler.port}`,
    CONTAINER_ID: "1",
    PUBLIC_IPADDR: "127.0.0.1",
    [`VAST_TCP_PORT_${publicPort}`]: String(publicPort),
    UNSECURED: "true",
    NULL_MAX_SESSIONS: "2",
    BACKEND_HEALTH_URL: `http://127.0.0.1:${health.port}/health`,
    HEALTHCHECK_INTERVAL: "1",
    HEALTHCHECK_TIMEOUT: "1",
    HEALTH_FAILURE_THRESHOLD: "1000000",
    LOG_LEVEL: "error",
    // A soak stopped by a signal (no exit handler runs) leaves no worker: it stops once this process is gone.
    NULL_PARENT_PID: String(process.pid)
  }
})
// A soak that throws takes its worker with it.
process.on("exit", () => worker.kill("SIGKILL"))
for (let i = 0; i < 200; i++) {
  const up = await fetch(`http://127.0.0.1:${controlPort}/sessions`).then((r) => r.ok, () => false)
  if (up) break
  await sleep(25)
}

// --- traffic ---------------------------------------------------------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
const statuses = {}
let requests = 0
const created = new Map() // session_id -> auth_data
const send = (port, method, path, body) =>
  new Promise((resolve) => {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body)
    const req = http.request({ host: "127.0.0.1", port, method, path, agent, headers: payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } }, (res) => {
      let text = ""
      res.on("data", (chunk) => (text += chunk))
      res.on("end", () => {
        requests++
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
        if (res.statusCode >= 500 && !(res.statusCode === 503 && text.includes("outbox is full"))) violations.push(`${method} ${path} → ${res.statusCode} ${text.slice(0, 120)}`)
        resolve({ status: res.statusCode, text })
      })
    })
    req.on("error", () => resolve({ status: 0, text: "" }))
    req.end(payload)
  })

let n = 0
const auth = () => ({ url: "u", signature: "s", reqnum: ++n, request_idx: n, endpoint: "soak", cost: pick([100, 100, 200, "100"]) })
const hostile = () =>
  pick([
    "{",
    "[".repeat(5000),
    JSON.stringify({ auth_data: { ...auth(), cost: 1.79e308 } }),
    JSON.stringify({ auth_data: JSON.parse('{"__proto__":{"x":1}}') }),
    JSON.stringify({ session_id: 5, session_auth: null }),
    JSON.stringify({ payload: "x".repeat(2000) }),
    "",
    "null"
  ])

const oneRequest = async () => {
  const roll = Math.random()
  if (roll < 0.3) {
    const auth_data = auth()
    const answer = await send(publicPort, "POST", "/session/create", { auth_data, payload: { lifetime: pick([1, 2, 3, 10]), on_close_route: `http://127.0.0.1:${callbackTarget.port}/cb`, on_close_payload: { n } } })
    if (answer.status === 201) created.set(JSON.parse(answer.text).session_id, auth_data)
  } else if (roll < 0.45) {
    const [id, auth_data] = pick([...created.entries()].slice(-20)) ?? ["none", {}]
    await send(pick([publicPort, webhookPort]), "POST", "/session/end", { session_id: id, session_auth: auth_data })
  } else if (roll < 0.6) {
    const [id, auth_data] = pick([...created.entries()].slice(-20)) ?? ["none", {}]
    await send(publicPort, "POST", "/ping", { auth_data, payload: {}, session_id: id })
  } else if (roll < 0.68) {
    await send(controlPort, "POST", "/release", pick([undefined, "{}", JSON.stringify({ generation: Math.floor(Math.random() * n) + 1 })]))
  } else if (roll < 0.72) {
    await send(controlPort, "GET", pick(["/sessions", "/debug", "/metrics", "/sessions?index=0&wait=0.05"]))
  } else {
    await send(pick([publicPort, webhookPort, controlPort]), pick(["POST", "GET"]), pick(["/session/create", "/session/end", "/session/get", "/session/health", "/ping", "/release", "/nope"]), hostile())
  }
}

const workerStats = async () => {
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${worker.pid}/status`, "utf8"))?.[1] ?? 0) / 1024
  const fds = readdirSync(`/proc/${worker.pid}/fd`).length
  const metrics = await fetch(`http://127.0.0.1:${controlPort}/metrics`).then((r) => r.text(), () => "")
  const lag = Number(/^nodejs_eventloop_lag_p99_seconds (\S+)/m.exec(metrics)?.[1] ?? NaN) * 1000
  return { rss_mb: Math.round(rss * 10) / 10, open_fds: fds, event_loop_p99_ms: Math.round(lag * 10) / 10 }
}

const faultSchedule = setInterval(() => {
  faults.callback = pick(["ok", "ok", "ok", "500", "hang", "refuse"])
  faults.autoscaler = pick(["ok", "ok", "ok", "down", "slow"])
  faults.health = pick(["ok", "ok", "slow", "503"])
}, 15_000)

const startedAt = Date.now()
const endAt = startedAt + minutes * 60_000
let lastMinute = 0
const concurrency = 8
const perWorkerDelay = (concurrency * 1000) / rate
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() < endAt) {
      await oneRequest()
      await sleep(perWorkerDelay)
      const minute = Math.floor((Date.now() - startedAt) / 60_000)
      if (minute > lastMinute) {
        lastMinute = minute
        const stats = await workerStats()
        console.log(JSON.stringify({ minute, requests, statuses: { ...statuses }, ...stats, reports: reportsSeen.count, violations: violations.length, faults: { ...faults } }))
      }
    }
  })
)

// --- heal, let callbacks drain, check --------------------------------------------------------------------
clearInterval(faultSchedule)
Object.assign(faults, { callback: "ok", autoscaler: "ok", health: "ok" })
await send(controlPort, "POST", "/release")
const settle = Date.now() + 90_000
const pending = async () => Number(/^null_worker_callback_pending (\S+)/m.exec(await fetch(`http://127.0.0.1:${controlPort}/metrics`).then((r) => r.text()))?.[1] ?? 1)
while (Date.now() < settle && (await pending()) > 0) await sleep(500)
const finalMetrics = await fetch(`http://127.0.0.1:${controlPort}/metrics`).then((r) => r.text())
const failedDeliveries = Number(/^null_worker_callback_deliveries_total\{outcome="failed"\} (\S+)/m.exec(finalMetrics)?.[1] ?? 0)
let unanswered = 0
for (const id of created.keys()) if ((callbacksBySession.get(id) ?? 0) === 0) unanswered++
// A delivery given up for good (the target failed all six attempts) is counted and logged as failed;
// only a callback neither received nor given up would be lost.
const missing = Math.max(0, unanswered - failedDeliveries)
const duplicates = [...callbacksBySession.values()].filter((count) => count > 1).length
const final = await workerStats()
worker.kill("SIGTERM")
await new Promise((resolve) => worker.once("exit", resolve))
const summary = {
  minutes,
  requests,
  created: created.size,
  callbacks: [...callbacksBySession.values()].reduce((a, b) => a + b, 0),
  callbacks_missing: missing,
  callbacks_accepted_twice: duplicates,
  failed_deliveries: failedDeliveries,
  ...final,
  violations: violations.length,
  first_violations: violations.slice(0, 5)
}
console.log(JSON.stringify(summary))
for (const { server } of [callbackTarget, autoscaler, health]) server.close()
agent.destroy()
process.exit(violations.length === 0 && missing === 0 ? 0 : 1)
