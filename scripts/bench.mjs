// Benchmarks of the built worker (dist/main.js), against the targets in docs/performance.md.
// Everything runs on loopback with real processes; each phase is bounded in count and time.
//
//   npm run bench                       all phases, default sizes
//   BENCH_PHASES=ab npm run bench       only the throughput A/B against the raw node:http floor
//   BENCH_CYCLES=200000 npm run bench   a longer memory run
//
// The `ab` phase runs the shared A/B driver (../shared/bench/ab.mjs, beside this project): the worker and a bare
// node:http floor in alternating rounds under one driver; it prints the three worker/floor ratios, then the same
// for scripts/protocol-floor.mjs (a bare server with the protocol's wire bytes) in the worker's place.
import { spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { Agent, createServer, request } from "node:http"
import { fileURLToPath } from "node:url"
import { freePort } from "./freePort.mjs"
import { scriptArgs } from "./scriptArgs.mjs"

scriptArgs(
  {},
  `Usage: npm run bench   (node scripts/bench.mjs after npm run build)

Benchmarks of the built worker against docs/performance.md's targets: the A/B against a bare node:http floor
(../shared/bench/ab.mjs), RSS, start-up, report latency, cycles, expiry and callbacks. Takes no options; set:
  BENCH_PHASES     phases to run, comma-separated (default ab,rss,startup,report,cycles,expiry,callback)
  BENCH_CYCLES     cycles of the memory run (default 20000); BENCH_WARMUP (2000), BENCH_STARTS (10),
                   BENCH_EXPIRIES (50), BENCH_AB_ROUNDS (3), BENCH_AB_CYCLES (2000)
  BENCH_MAIN       another build of the worker to measure (default dist/main.js)
`
)

// BENCH_MAIN points the worker phases at another build of the worker (to compare two builds).
const mainJs = process.env.BENCH_MAIN ?? fileURLToPath(new URL("../dist/main.js", import.meta.url))
const env = (name, fallback) => Number(process.env[name] ?? fallback)
const STARTS = env("BENCH_STARTS", 10)
const CYCLES = env("BENCH_CYCLES", 20000)
const WARMUP = env("BENCH_WARMUP", 2000)
const EXPIRIES = env("BENCH_EXPIRIES", 50)
const PHASES = (process.env.BENCH_PHASES ?? "ab,rss,startup,report,cycles,expiry,callback").split(",")
const AB_ROUNDS = env("BENCH_AB_ROUNDS", 3)
const AB_CYCLES = env("BENCH_AB_CYCLES", 2000)


const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}
const ms = (value) => `${value.toFixed(2)} ms`
const rssMb = (pid) => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))
  return Number(line.split(/\s+/)[1]) / 1024
}
const sleep = (millis) => new Promise((resolve) => setTimeout(resolve, millis))
/** CPU time (user + system) a process has used, in ms; Linux reports it in 1/100 s ticks. */
const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

// A stand-in autoscaler: it accepts reports and lets a phase wait for one that matches.
const reports = { waiters: [] }
const sink = createServer((req, res) => {
  let body = ""
  req.on("data", (chunk) => (body += chunk))
  req.on("end", () => {
    res.writeHead(200).end("{}")
    if (req.url !== "/worker_status/") return
    const status = JSON.parse(body)
    const at = process.hrtime.bigint()
    reports.waiters = reports.waiters.filter((waiter) => !waiter(status, at))
  })
})
await new Promise((resolve) => sink.listen(0, "127.0.0.1", resolve))
const sinkUrl = `http://127.0.0.1:${sink.address().port}`
/** Resolves with the hrtime of the first report (from now on) that matches. */
const nextReport = (matches) =>
  new Promise((resolve) => reports.waiters.push((status, at) => (matches(status) ? (resolve(at), true) : false)))

/** Workers still running: a phase that throws leaves its worker to this, killed as the bench exits. */
const running = new Set()
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})

async function startWorker(extraEnv = {}) {
  const [workerPort, httpPort, controlPort] = [await freePort(), await freePort(), await freePort()]
  const ready = nextReport((status) => status.max_perf === 100)
  const started = process.hrtime.bigint()
  const child = spawn(process.execPath, [mainJs], {
    env: {
      PATH: process.env.PATH,
      WORKER_PORT: String(workerPort),
      WORKER_HTTP_PORT: String(httpPort),
      NULL_CONTROL_PORT: String(controlPort),
      REPORT_ADDR: sinkUrl,
      CONTAINER_ID: "1",
      PUBLIC_IPADDR: "127.0.0.1",
      [`VAST_TCP_PORT_${workerPort}`]: String(workerPort),
      UNSECURED: "true",
      // A bench killed outright (no exit handler runs) still leaves no worker: each stops once this process is gone.
      NULL_PARENT_PID: String(process.pid),
      ...extraEnv
    },
    stdio: ["ignore", "pipe", "inherit"]
  })
  running.add(child)
  child.once("exit", () => running.delete(child))
  let output = ""
  const listening = await new Promise((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      output += chunk
      if (output.includes("public API listening")) resolve(Number(process.hrtime.bigint() - started) / 1e6)
    })
    child.once("exit", () => reject(new Error(`worker exited:\n${output}`)))
  })
  child.stdout.resume()
  const stop = () =>
    new Promise((resolve) => {
      child.once("exit", resolve)
      child.kill("SIGTERM")
    })
  const readyAfter = extraEnv.REPORT_ADDR === undefined ? ready.then((at) => Number(at - started) / 1e6) : Promise.resolve(NaN)
  return { child, listening, readyAfter, stop, base: `http://127.0.0.1:${workerPort}`, control: `http://127.0.0.1:${controlPort}` }
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 })
function post(url, body) {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? "" : JSON.stringify(body)
    const req = request(url, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) } }, (res) => {
      let data = ""
      res.setEncoding("utf8")
      res.on("data", (chunk) => (data += chunk))
      res.on("end", () => resolve({ status: res.statusCode, body: data === "" ? null : JSON.parse(data) }))
    })
    req.on("error", reject)
    req.end(text)
  })
}
function get(url) {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      let data = ""
      res.on("data", (chunk) => (data += chunk))
      res.on("end", () => resolve(JSON.parse(data)))
    }).on("error", reject).end()
  })
}

const authData = { url: "https://203.0.113.7:41234", signature: "c2ln", reqnum: 1, request_idx: 1, endpoint: "bench", cost: 100 }

async function phaseStartup() {
  const times = []
  const readies = []
  const rss = []
  for (let i = 0; i < STARTS; i++) {
    const worker = await startWorker()
    times.push(worker.listening)
    readies.push(await worker.readyAfter)
    await sleep(1000)
    rss.push(rssMb(worker.child.pid))
    await worker.stop()
  }
  console.log(`startup (${STARTS} starts): spawn → public port listening p50 ${ms(quantile(times, 0.5))}, max ${ms(Math.max(...times))}`)
  console.log(`startup (${STARTS} starts): spawn → first /worker_status/ with max_perf 100 p50 ${ms(quantile(readies, 0.5))}, max ${ms(Math.max(...readies))}`)
  console.log(`idle RSS 1 s after start: p50 ${quantile(rss, 0.5).toFixed(1)} MB, max ${Math.max(...rss).toFixed(1)} MB`)
}

async function phaseReportLatency() {
  const worker = await startWorker()
  await worker.readyAfter
  const opened = []
  const closed = []
  const quiet = []
  for (let i = 0; i < 10; i++) {
    // After a quiet spell (no report due), a change goes out at once.
    await sleep(400)
    const busy = nextReport((status) => status.cur_load === 100)
    const t0 = process.hrtime.bigint()
    const created = await post(`${worker.base}/session/create`, { auth_data: authData, payload: { lifetime: 60 } })
    quiet.push(Number((await busy) - t0) / 1e6)
    await sleep(400)
    const idle = nextReport((status) => status.cur_load === 0)
    const t1 = process.hrtime.bigint()
    await post(`${worker.base}/session/end`, { session_id: created.body.session_id, session_auth: authData })
    quiet.push(Number((await idle) - t1) / 1e6)
  }
  for (let i = 0; i < 20; i++) {
    const busy = nextReport((status) => status.cur_load === 100)
    const t0 = process.hrtime.bigint()
    const created = await post(`${worker.base}/session/create`, { auth_data: authData, payload: { lifetime: 60 } })
    opened.push(Number((await busy) - t0) / 1e6)
    const idle = nextReport((status) => status.cur_load === 0)
    const t1 = process.hrtime.bigint()
    await post(`${worker.base}/session/end`, { session_id: created.body.session_id, session_auth: authData })
    closed.push(Number((await idle) - t1) / 1e6)
  }
  console.log(`occupancy → /worker_status/ after ≥ 400 ms quiet (10 creates + 10 ends): p50 ${ms(quantile(quiet, 0.5))}, max ${ms(Math.max(...quiet))}`)
  console.log(
    `occupancy → /worker_status/ back to back (each change right after a report; the 250 ms spacing is the bound): ` +
      `create p50 ${ms(quantile(opened, 0.5))}, max ${ms(Math.max(...opened))}; end p50 ${ms(quantile(closed, 0.5))}, max ${ms(Math.max(...closed))}`
  )
  await worker.stop()
}

async function phaseCycles() {
  // Reports go to a closed port here: this process is the driver, and must not also be the autoscaler.
  const worker = await startWorker({ REPORT_ADDR: "http://127.0.0.1:9" })
  const cycle = async (latencies) => {
    const t0 = process.hrtime.bigint()
    const created = await post(`${worker.base}/session/create`, { auth_data: authData, payload: { lifetime: 60 } })
    const t1 = process.hrtime.bigint()
    if (created.status !== 201) throw new Error(`create answered ${created.status}`)
    const ended = await post(`${worker.base}/session/end`, { session_id: created.body.session_id, session_auth: authData })
    const t2 = process.hrtime.bigint()
    if (ended.status !== 200) throw new Error(`end answered ${ended.status}`)
    latencies?.push(Number(t1 - t0) / 1e6, Number(t2 - t1) / 1e6)
  }
  for (let i = 0; i < WARMUP; i++) await cycle()
  const rssBefore = rssMb(worker.child.pid)
  const latencies = []
  const cpuBefore = cpuMs(worker.child.pid)
  const started = process.hrtime.bigint()
  for (let i = 0; i < CYCLES; i++) await cycle(latencies)
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const workerCpuPerCycle = ((cpuMs(worker.child.pid) - cpuBefore) / CYCLES) * 1000
  await sleep(2000)
  const rssAfter = rssMb(worker.child.pid)
  console.log(
    `cycles (warm, sequential, keep-alive): ${CYCLES} create → /session/end in ${seconds.toFixed(1)} s = ${(CYCLES / seconds).toFixed(0)} cycles/s; ` +
      `per call p50 ${ms(quantile(latencies, 0.5))}, p99 ${ms(quantile(latencies, 0.99))}; ` +
      `worker CPU ${workerCpuPerCycle.toFixed(0)} µs per cycle (the driver, not the worker, is the bottleneck when this is well under 1e6 / cycles/s)`
  )
  console.log(`RSS over those cycles: ${rssBefore.toFixed(1)} MB → ${rssAfter.toFixed(1)} MB (${(rssAfter - rssBefore).toFixed(1)} MB)`)
  await worker.stop()
}

async function phaseExpiry() {
  const worker = await startWorker()
  const late = []
  for (let i = 0; i < EXPIRIES; i++) {
    const created = await post(`${worker.base}/session/create`, { auth_data: authData, payload: { lifetime: 0.1 } })
    const deadline = created.body.expiration * 1000
    await sleep(150)
    const debug = await get(`${worker.control}/debug`)
    const closed = debug.recent_closes.find((c) => c.session_id === created.body.session_id)
    if (!closed || closed.reason !== "expired") throw new Error("session did not expire")
    late.push(closed.closed_at * 1000 - deadline)
  }
  console.log(
    `expiry (${EXPIRIES} sessions, lifetime 100 ms): deadline → close p50 ${ms(quantile(late, 0.5))}, p99 ${ms(quantile(late, 0.99))}, ` +
      `min ${ms(Math.min(...late))}`
  )
  await worker.stop()
}

async function phaseHungCallback() {
  const hung = createServer(() => {})
  await new Promise((resolve) => hung.listen(0, "127.0.0.1", resolve))
  const route = `http://127.0.0.1:${hung.address().port}/never`
  const worker = await startWorker()
  const times = []
  for (let i = 0; i < 20; i++) {
    const created = await post(`${worker.base}/session/create`, { auth_data: authData, payload: { lifetime: 60, on_close_route: route } })
    const t0 = process.hrtime.bigint()
    const ended = await post(`${worker.base}/session/end`, { session_id: created.body.session_id, session_auth: authData })
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
    if (ended.status !== 200) throw new Error(`end answered ${ended.status}`)
  }
  console.log(`/session/end with a callback target that never answers (20 ends): p50 ${ms(quantile(times, 0.5))}, max ${ms(Math.max(...times))}`)
  await worker.stop()
  hung.closeAllConnections()
  hung.close()
}

/** Runs the shared A/B driver with `args` and returns its summary (the last line it prints). */
const runAb = async (driver, args) => {
  const lines = []
  await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [driver, "--rounds", String(AB_ROUNDS), "--cycles", String(AB_CYCLES), ...args], { stdio: ["ignore", "pipe", "inherit"] })
    child.stdout.setEncoding("utf8")
    let rest = ""
    child.stdout.on("data", (chunk) => {
      rest += chunk
      const parts = rest.split("\n")
      rest = parts.pop() ?? ""
      for (const line of parts) if (line.trim() !== "") lines.push(line)
    })
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`ab.mjs exited ${code}`))))
  })
  return JSON.parse(lines.at(-1) ?? "{}").summary
}

async function phaseAb() {
  const driver = fileURLToPath(new URL("../../shared/bench/ab.mjs", import.meta.url))
  if (!existsSync(driver)) {
    console.log(`ab: skipped, the shared A/B driver is not at ${driver}`)
    return
  }
  const line = (summary) => {
    const ratio = (phase) => `${summary[phase].ratio.toFixed(2)} (${summary[phase].worker_per_s}/s vs ${summary[phase].reference_per_s}/s)`
    return `end ${ratio("end")}, release ${ratio("release")}, 429 while full ${ratio("full")}; create → end p99 ${summary.end.worker_p99_ms.toFixed(2)} ms`
  }
  const worker = await runAb(driver, [])
  console.log(`ab (${AB_ROUNDS} rounds × ${AB_CYCLES} cycles, worker/floor medians): ${line(worker)}`)
  // The same driver against a bare node:http server that keeps the protocol's wire bytes (scripts/protocol-floor.mjs):
  // what no framework and no bookkeeping would reach on this machine now, for reading the worker's ratios.
  const bare = await runAb(driver, ["--worker", `node ${fileURLToPath(new URL("./protocol-floor.mjs", import.meta.url))}`])
  console.log(`ab, a bare server speaking the protocol (scripts/protocol-floor.mjs) in the worker's place: ${line(bare)}`)
}

async function phaseRssAfter10k() {
  const worker = await startWorker({ REPORT_ADDR: "http://127.0.0.1:9" })
  for (let i = 0; i < 10_000; i++) {
    const created = await post(`${worker.base}/session/create`, { auth_data: authData, payload: { lifetime: 60 } })
    await post(`${worker.base}/session/end`, { session_id: created.body.session_id, session_auth: authData })
  }
  console.log(`RSS after 10,000 create → /session/end cycles (fresh worker): ${rssMb(worker.child.pid).toFixed(1)} MB`)
  await worker.stop()
}

console.log(`null-worker bench — node ${process.version}, ${new Date().toISOString()}`)
if (PHASES.includes("ab")) await phaseAb()
if (PHASES.includes("rss")) await phaseRssAfter10k()
if (PHASES.includes("startup")) await phaseStartup()
if (PHASES.includes("report")) await phaseReportLatency()
if (PHASES.includes("cycles")) await phaseCycles()
if (PHASES.includes("expiry")) await phaseExpiry()
if (PHASES.includes("callback")) await phaseHungCallback()
agent.destroy()
sink.close()
