// Builds compared side by side: every server is started at once and warmed up, then one driver runs blocks of
// cycles against each in turn (block order reversed every other time), so a noisy moment of the host lands on
// all of them rather than on one `ab.mjs` round. Prints, per server, the mean and median cycle time, its rate
// relative to the first server, the share of slow cycles, and the create and close halves of a cycle.
//
//   node scripts/interleave.mjs [--phase release|end] [--blocks 60] [--block 200] SERVER...
//
// A SERVER is `ref` (../shared/bench/raw-reference.mjs), or a worker entry such as `dist/main.js`, optionally
// followed by `@NAME=value` settings for its environment (`@NODEARGS=--flag` passes flags to node), e.g.
//   node scripts/interleave.mjs ref dist/main.js /tmp/old/main.js "dist/main.js@LOG_LEVEL=warning"
import { spawn } from "node:child_process"
import http from "node:http"
import net from "node:net"
import { performance } from "node:perf_hooks"
import { createBodies, keepAliveAgent, standInAutoscaler } from "./benchRequests.mjs"
import { freePort } from "./freePort.mjs"

const usage = `Usage: node scripts/interleave.mjs [--phase release|end] [--blocks N] [--block N] [--warmup N] SERVER...

Compares servers side by side in interleaved blocks of cycles. A SERVER is \`ref\` (../shared/bench/raw-reference.mjs)
or a worker entry such as dist/main.js, optionally followed by @NAME=value settings for its environment
(@NODEARGS=--flag passes flags to node), e.g.  node scripts/interleave.mjs ref dist/main.js "dist/main.js@LOG_LEVEL=warning"
`
if (process.argv.includes("--help") || process.argv.includes("-h")) {
  process.stdout.write(usage)
  process.exit(0)
}
const args = process.argv.slice(2)
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`)
  if (at < 0) return fallback
  const [value] = args.splice(at, 2).slice(1)
  return value
}
const phase = option("phase", "release")
const BLOCKS = Number(option("blocks", "60"))
const BLOCK = Number(option("block", "200"))
const WARM = Number(option("warmup", "2500"))
const unknown = args.find((arg) => arg.startsWith("-"))
if (args.length === 0 || unknown !== undefined) {
  process.stderr.write(`${unknown === undefined ? "" : `unknown option ${unknown}\n`}${usage}`)
  process.exit(2)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const accepting = (port) =>
  new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => (socket.destroy(), resolve(true)))
    socket.on("error", () => resolve(false))
  })

const autoscaler = await standInAutoscaler(freePort)

const post = (agent, port, path, body) =>
  new Promise((resolve, reject) => {
    const text = body === undefined ? "" : JSON.stringify(body)
    const request = http.request(
      { host: "127.0.0.1", port, path, method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) } },
      (response) => {
        const chunks = []
        response.on("data", (chunk) => chunks.push(chunk))
        response.on("end", () => resolve({ status: response.statusCode, json: JSON.parse(Buffer.concat(chunks).toString() || "null") }))
      }
    )
    request.on("error", reject)
    request.end(text)
  })
const createBody = createBodies()

const servers = []
const stopAll = () => {
  for (const server of servers) server.child.kill("SIGTERM")
  autoscaler.close()
}
// The raw reference does not watch its parent: a signal to this script stops it too, through the exit handler.
process.on("exit", () => {
  for (const server of servers) server.child.kill("SIGKILL")
})
// Stopped by a signal: 128 + its number, as a shell reports it.
for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]]) process.once(signal, () => process.exit(status))
try {
  for (const spec of args) {
    const [file, ...settings] = spec.split("@")
    const env = Object.fromEntries(settings.map((setting) => [setting.slice(0, setting.indexOf("=")), setting.slice(setting.indexOf("=") + 1)]))
    const ports = { public: await freePort(), control: await freePort(), webhook: await freePort() }
    const nodeArgs = env.NODEARGS ? env.NODEARGS.split(" ") : []
    const child = spawn(
      process.execPath,
      file === "ref" ? ["../shared/bench/raw-reference.mjs", String(ports.public), String(ports.control)] : [...nodeArgs, file],
      {
        stdio: ["ignore", "ignore", "inherit"],
        env: {
          ...process.env,
          WORKER_PORT: String(ports.public), WORKER_HTTP_PORT: String(ports.webhook), NULL_CONTROL_PORT: String(ports.control),
          REPORT_ADDR: autoscaler.url, UNSECURED: "true", USE_SSL: "false", MASTER_TOKEN: "bench", CONTAINER_ID: "1",
          PUBLIC_IPADDR: "127.0.0.1", [`VAST_TCP_PORT_${ports.public}`]: String(ports.public),
          // A run stopped by a signal leaves no worker: each stops once this process is gone.
          NULL_PARENT_PID: String(process.pid), ...env
        }
      }
    )
    servers.push({ spec, ports, child, publicAgent: keepAliveAgent(), controlAgent: keepAliveAgent(), cycles: [], creates: [], closes: [] })
    const until = Date.now() + 15_000
    while (!(await accepting(ports.control))) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`${spec} did not start`)
      await sleep(20)
    }
  }
  await sleep(300)

  const cycle = async (server, how) => {
    const body = createBody()
    const started = performance.now()
    const created = await post(server.publicAgent, server.ports.public, "/session/create", body)
    const half = performance.now()
    if (how === "end") await post(server.publicAgent, server.ports.public, "/session/end", { session_id: created.json.session_id, session_auth: body.auth_data })
    else await post(server.controlAgent, server.ports.control, "/release")
    return [half - started, performance.now() - half]
  }
  for (const server of servers) for (let i = 0; i < WARM; i++) await cycle(server, "end")
  for (let block = 0; block < BLOCKS; block++) {
    for (const server of block % 2 === 0 ? servers : [...servers].reverse()) {
      for (let i = 0; i < BLOCK; i++) {
        const [create, close] = await cycle(server, phase)
        server.creates.push(create)
        server.closes.push(close)
        server.cycles.push(create + close)
      }
    }
  }

  const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]
  const mean = (xs) => xs.reduce((sum, x) => sum + x, 0) / xs.length
  const us = (ms) => Math.round(ms * 1000)
  const slower = (xs, ms) => ((xs.filter((x) => x > ms).length / xs.length) * 100).toFixed(2)
  const first = mean(servers[0].cycles)
  for (const server of servers) {
    console.log(
      JSON.stringify({
        server: server.spec,
        phase,
        cycles: server.cycles.length,
        mean_us: us(mean(server.cycles)),
        p50_us: us(quantile(server.cycles, 0.5)),
        p99_us: us(quantile(server.cycles, 0.99)),
        rate_vs_first: Math.round((first / mean(server.cycles)) * 1000) / 1000,
        percent_over_0_5_1_2_ms: [slower(server.cycles, 0.5), slower(server.cycles, 1), slower(server.cycles, 2)].join("/"),
        create_p50_us: us(quantile(server.creates, 0.5)),
        close_p50_us: us(quantile(server.closes, 0.5))
      })
    )
  }
} finally {
  stopAll()
}
