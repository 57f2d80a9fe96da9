// A minimal sequential driver: create → /session/end cycles against a running worker, keep-alive, one
// connection, no latency bookkeeping. `node scripts/cycles.mjs http://127.0.0.1:PORT 1500` (the worker with UNSECURED=true).
import { Agent, request } from "node:http"
import { scriptCommandLine } from "./scriptArgs.mjs"

const usage = `Usage: node scripts/cycles.mjs URL [N]
Times N (default 3000) create → /session/end cycles, after 300 unmeasured, against the worker at URL (its public
port, started with UNSECURED=true), on one keep-alive connection; prints cycles/s.
`
const { positionals } = scriptCommandLine({}, usage, true)
const [base = "", count = "3000"] = positionals
const isHttp = URL.canParse(base) && ["http:", "https:"].includes(new URL(base).protocol)
if (!isHttp || !/^[1-9][0-9]*$/.test(count) || positionals.length > 2) {
  process.stderr.write(`cycles.mjs: needs a worker URL (http://…) and, optionally, a whole number of cycles\n${usage}`)
  process.exit(1)
}
const n = Number(count)
const agent = new Agent({ keepAlive: true, maxSockets: 1 })
const auth = { url: "u", signature: "s", reqnum: 1, request_idx: 1, endpoint: "e", cost: 100 }
// Each answer must have the status a worker gives: the control port, or a worker that checks signatures, would
// otherwise be timed as if it were one.
const post = (path, obj, expected) => new Promise((res, rej) => { const body = JSON.stringify(obj); const r = request(new URL(path, base), { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (x) => { let d = ""; x.on("data", c => d += c); x.on("end", () => x.statusCode === expected ? res(JSON.parse(d || "null")) : rej(new Error(`${path} answered ${x.statusCode}, not ${expected} (a worker's public port, with UNSECURED=true?)`))) }); r.on("error", rej); r.end(body) })
const cycle = async () => { const c = await post("/session/create", { auth_data: auth, payload: { lifetime: 60 } }, 201); await post("/session/end", { session_id: c.session_id, session_auth: auth }, 200) }
try {
  for (let i = 0; i < 300; i++) await cycle()
  const t = process.hrtime.bigint(); for (let i = 0; i < n; i++) await cycle()
  const s = Number(process.hrtime.bigint() - t) / 1e9; console.log("cycles/s", (n / s).toFixed(0))
} catch (error) {
  // A worker that is not there (or not UNSECURED) is one line, not a stack.
  process.stderr.write(`cycles.mjs: ${base}: ${error.code ?? error.message}\n`)
  process.exitCode = 1
} finally {
  agent.destroy()
}
