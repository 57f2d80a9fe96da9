// Where `ab.mjs`'s `full` phase (8 connections sending creates to a full server, each answered 429) spends its time:
// the same warm-up and phases as `ab.mjs` (500 + 2,000 create → end cycles, 2,000 create → release), then the
// `full` phase several times over, with the CPU each side spent per answer: the driver's own (`process.cpuUsage`)
// and the server process's, every thread (`/proc/PID/task/*/stat`, so Linux only). The phase is bound by the
// driver, which runs on one core; what it spends per answer depends on the answer it parses (the protocol's `429`
// has an empty body, on which the driver's `JSON.parse` throws) and on what the server takes from the other core.
//
//   node scripts/full-cpu.mjs [--rounds 2] [--phases 3] [--answers 8000] [SERVER...]
//
// A SERVER is `worker` (dist/main.js), `protocol` (scripts/protocol-floor.mjs: the protocol's bytes, nothing
// else), `raw` (../shared/bench/raw-reference.mjs, ab.mjs's floor) or the path of another worker entry.
// Default: worker protocol raw. Servers take turns, one round each, so a noisy moment of the host lands on all.
import { spawn } from "node:child_process"
import { existsSync, readFileSync, readdirSync } from "node:fs"
import http from "node:http"
import net from "node:net"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { createBodies, keepAliveAgent, standInAutoscaler } from "./benchRequests.mjs"
import { freePort } from "./freePort.mjs"
import { refuse, scriptCommandLine } from "./scriptArgs.mjs"

const usage = `Usage: node scripts/full-cpu.mjs [--rounds N] [--phases N] [--answers N] [SERVER...]

Runs ab.mjs's full phase (429s to 8 connections) --phases times per server after ab.mjs's warm-up, and prints for
each phase the answers a second and the CPU the driver and the server spent per answer (Linux: /proc). A SERVER is
worker (dist/main.js), protocol (scripts/protocol-floor.mjs), raw (../shared/bench/raw-reference.mjs) or the path
of a worker entry; default: worker protocol raw. Defaults: --rounds 2 --phases 3 --answers 8000.
`
const { values, positionals } = scriptCommandLine(
  { rounds: { type: "string", default: "2" }, phases: { type: "string", default: "3" }, answers: { type: "string", default: "8000" } },
  usage,
  true
)
const whole = (flag, min) => {
  const text = values[flag]
  if (!/^[0-9]+$/.test(text) || Number(text) < min) refuse(flag, `a whole number of at least ${min}`, text, usage)
  return Number(text)
}
const rounds = whole("rounds", 1)
const phases = whole("phases", 1)
const perConnection = Math.ceil(whole("answers", 8) / 8)
const servers = positionals.length > 0 ? positionals : ["worker", "protocol", "raw"]

const here = (path) => fileURLToPath(new URL(path, import.meta.url))
const rawReference = here("../../shared/bench/raw-reference.mjs")
if (servers.includes("raw") && !existsSync(rawReference)) {
  process.stderr.write(`full-cpu.mjs: raw needs the shared bench floor at ${rawReference} (not part of this repository); name other servers\n`)
  process.exit(1)
}
for (const server of servers) {
  const entry = server === "worker" ? here("../dist/main.js") : server
  if (server !== "raw" && server !== "protocol" && !existsSync(entry)) {
    process.stderr.write(`full-cpu.mjs: ${entry} does not exist (npm run build makes dist/main.js)\n`)
    process.exit(1)
  }
}
const commandOf = (server, ports) => {
  if (server === "raw") return [rawReference, String(ports.public), String(ports.control)]
  if (server === "protocol") return [here("./protocol-floor.mjs")]
  return [server === "worker" ? here("../dist/main.js") : server]
}

/** CPU milliseconds of every thread of `pid` so far (utime + stime, in the kernel's 10 ms ticks). */
const serverCpuMs = (pid) => {
  let ticks = 0
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8").split(") ")[1].split(" ")
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return ticks * 10
}

const post = (agent, port, path, body) => {
  const payload = body === undefined ? "" : JSON.stringify(body)
  return new Promise((resolve) => {
    const request = http.request(
      { host: "127.0.0.1", port, path, method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
      (response) => {
        const chunks = []
        response.on("data", (chunk) => chunks.push(chunk))
        response.on("end", () => {
          // As ab.mjs reads every answer: an empty body throws here, and that cost is the driver's.
          let json = null
          try {
            json = JSON.parse(Buffer.concat(chunks).toString())
          } catch {}
          resolve({ status: response.statusCode, json })
        })
      }
    )
    request.on("error", () => resolve({ status: 0, json: null }))
    request.end(payload)
  })
}

const createBody = createBodies()
const keepAlive = keepAliveAgent

const cycles = async (ports, close, count) => {
  const [pub, ctl] = [keepAlive(), keepAlive()]
  for (let i = 0; i < count; i++) {
    const body = createBody()
    const created = await post(pub, ports.public, "/session/create", body)
    if (close === "end") await post(pub, ports.public, "/session/end", { session_id: created.json?.session_id, session_auth: body.auth_data })
    else await post(ctl, ports.control, "/release")
  }
  pub.destroy()
  ctl.destroy()
}

const fullPhase = async (ports, pid) => {
  const holder = keepAlive()
  const held = await post(holder, ports.public, "/session/create", createBody())
  if (held.status !== 201) throw new Error(`the session that fills the server was answered ${held.status}, not 201`)
  const agents = Array.from({ length: 8 }, keepAlive)
  const [wall0, driver0, server0] = [performance.now(), process.cpuUsage(), serverCpuMs(pid)]
  let refused = 0
  await Promise.all(
    agents.map(async (agent) => {
      for (let i = 0; i < perConnection; i++) if ((await post(agent, ports.public, "/session/create", createBody())).status === 429) refused++
    })
  )
  const seconds = (performance.now() - wall0) / 1000
  const driver = process.cpuUsage(driver0)
  const serverMs = serverCpuMs(pid) - server0
  await post(holder, ports.control, "/release")
  for (const agent of [holder, ...agents]) agent.destroy()
  const answers = perConnection * 8
  return {
    per_s: Math.round(answers / seconds),
    refused_429: refused,
    driver_us_per_answer: Math.round((driver.user + driver.system) / answers),
    server_us_per_answer: Math.round((serverMs * 1000) / answers)
  }
}

const waitForPort = async (port) => {
  for (let i = 0; i < 300; i++) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => (socket.destroy(), resolve(true)))
      socket.on("error", () => resolve(false))
    })
    if (open) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`port ${port} did not open`)
}

const autoscaler = await standInAutoscaler(freePort)
// The raw reference does not watch its parent: a signal to this script stops it too, through the exit handler.
const running = new Set()
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})
// Stopped by a signal: 128 + its number, as a shell reports it.
for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]]) process.once(signal, () => process.exit(status))

try {
  for (let round = 1; round <= rounds; round++) {
    for (const server of servers) {
      const ports = { public: await freePort(), control: await freePort(), webhook: await freePort() }
      const child = spawn(process.execPath, commandOf(server, ports), {
        stdio: "ignore",
        env: {
          ...process.env,
          WORKER_PORT: String(ports.public),
          WORKER_HTTP_PORT: String(ports.webhook),
          NULL_CONTROL_PORT: String(ports.control),
          REPORT_ADDR: autoscaler.url,
          UNSECURED: "true",
          USE_SSL: "false",
          MASTER_TOKEN: "bench",
          CONTAINER_ID: "1",
          PUBLIC_IPADDR: "127.0.0.1",
          [`VAST_TCP_PORT_${ports.public}`]: String(ports.public),
          // A run stopped by a signal leaves no worker: it stops once this process is gone.
          NULL_PARENT_PID: String(process.pid)
        }
      })
      running.add(child)
      child.once("exit", () => running.delete(child))
      try {
        await waitForPort(ports.public)
        await waitForPort(ports.control)
        await new Promise((resolve) => setTimeout(resolve, 300))
        await cycles(ports, "end", 500)
        await cycles(ports, "end", 2000)
        await cycles(ports, "release", 2000)
        for (let phase = 1; phase <= phases; phase++) console.log(JSON.stringify({ round, server, phase, ...(await fullPhase(ports, child.pid)) }))
      } finally {
        child.kill("SIGTERM")
        // A child that ended by a signal has no exit code, only a signal code.
        await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", resolve)))
      }
    }
  }
} finally {
  autoscaler.close()
}
