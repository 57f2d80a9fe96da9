// A minimal sequential driver: create → /session/end cycles against a running worker, keep-alive, one
// connection, no latency bookkeeping. `node scripts/cycles.mjs http://127.0.0.1:PORT 1500` (the worker with UNSECURED=true).
import { Agent, request } from "node:http"
const agent = new Agent({ keepAlive: true, maxSockets: 1 })
const base = process.argv[2], n = Number(process.argv[3] ?? 3000)
const auth = { url: "u", signature: "s", reqnum: 1, request_idx: 1, endpoint: "e", cost: 100 }
const post = (path, obj) => new Promise((res, rej) => { const body = JSON.stringify(obj); const r = request(base + path, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (x) => { let d = ""; x.on("data", c => d += c); x.on("end", () => res(JSON.parse(d || "null"))) }); r.on("error", rej); r.end(body) })
const cycle = async () => { const c = await post("/session/create", { auth_data: auth, payload: { lifetime: 60 } }); await post("/session/end", { session_id: c.session_id, session_auth: auth }) }
for (let i = 0; i < 300; i++) await cycle()
const t = process.hrtime.bigint(); for (let i = 0; i < n; i++) await cycle()
const s = Number(process.hrtime.bigint() - t) / 1e9; console.log("cycles/s", (n / s).toFixed(0))
agent.destroy()
