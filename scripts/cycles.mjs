// A minimal sequential driver: create → /session/end cycles against a running worker, keep-alive, one
// connection, no latency bookkeeping. `node scripts/cycles.mjs http://127.0.0.1:PORT 1500` (the worker with UNSECURED=true).
import { Agent, request } from "node:http"
import { parseArgs } from "node:util"

const usage = `Usage: node scripts/cycles.mjs URL [N]
Times N (default 3000) create → /session/end cycles, after 300 unmeasured, against the worker at URL (its public
port, started with UNSECURED=true), on one keep-alive connection; prints cycles/s.
`
let parsed
try {
  parsed = parseArgs({ options: { help: { type: "boolean", short: "h", default: false } }, allowPositionals: true })
} catch (error) {
  process.stderr.write(`${error.message}\n${usage}`)
  process.exit(1)
}
if (parsed.values.help) {
  process.stdout.write(usage)
  process.exit(0)
}
const [base = "", count = "3000"] = parsed.positionals
if (!URL.canParse(base) || !/^[1-9][0-9]*$/.test(count) || parsed.positionals.length > 2) {
  process.stderr.write(`cycles.mjs: needs a worker URL and, optionally, a whole number of cycles\n${usage}`)
  process.exit(1)
}
const n = Number(count)
const agent = new Agent({ keepAlive: true, maxSockets: 1 })
const auth = { url: "u", signature: "s", reqnum: 1, request_idx: 1, endpoint: "e", cost: 100 }
const post = (path, obj) => new Promise((res, rej) => { const body = JSON.stringify(obj); const r = request(base + path, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (x) => { let d = ""; x.on("data", c => d += c); x.on("end", () => res(JSON.parse(d || "null"))) }); r.on("error", rej); r.end(body) })
const cycle = async () => { const c = await post("/session/create", { auth_data: auth, payload: { lifetime: 60 } }); await post("/session/end", { session_id: c.session_id, session_auth: auth }) }
for (let i = 0; i < 300; i++) await cycle()
const t = process.hrtime.bigint(); for (let i = 0; i < n; i++) await cycle()
const s = Number(process.hrtime.bigint() - t) / 1e9; console.log("cycles/s", (n / s).toFixed(0))
agent.destroy()
