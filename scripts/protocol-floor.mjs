// A bare node:http session server that answers as the protocol says, for `ab.mjs --worker`: what the A/B driver's
// ratios are for a server with no framework, no timers and no bookkeeping, once it keeps the wire bytes we must
// keep. The one difference from the shared floor (../shared/bench/raw-reference.mjs) that the driver sees is the
// refused create: `429` with an empty body (vast-protocol.md §2.2, row 4), which the driver's `JSON.parse` throws on.
//
//   node ../shared/bench/ab.mjs --worker "node scripts/protocol-floor.mjs"
//
// Reads WORKER_PORT and NULL_CONTROL_PORT as the worker does; everything else in its environment is ignored.
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import { scriptArgs } from "./scriptArgs.mjs"

const usage = `Usage: WORKER_PORT=N NULL_CONTROL_PORT=N node scripts/protocol-floor.mjs
A bare node:http session server with the worker's wire bytes, for the A/B driver:
  node ../shared/bench/ab.mjs --worker "node scripts/protocol-floor.mjs"
It takes no options; the driver gives it its two ports in the environment, as it gives the worker.
`
scriptArgs({}, usage)
const port = (name) => {
  const text = process.env[name] ?? ""
  if (/^[0-9]+$/.test(text) && Number(text) <= 65535) return Number(text)
  process.stderr.write(`${name} must be a port number, not ${JSON.stringify(text)}\n${usage}`)
  process.exit(1)
}
const publicPort = port("WORKER_PORT")
const controlPort = port("NULL_CONTROL_PORT")
/** The open session, if any: its id and its `auth_data` as JSON. */
let open = null

const answer = (res, status, body) => {
  if (body === undefined) {
    res.writeHead(status, { "content-length": 0 })
    return res.end()
  }
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) })
  res.end(text)
}

const withBody = (handle) => (req, res) => {
  const chunks = []
  req.on("data", (chunk) => chunks.push(chunk))
  req.on("end", () => {
    let body = null
    try {
      body = chunks.length === 0 ? null : JSON.parse(Buffer.concat(chunks).toString("utf8"))
    } catch {
      return answer(res, 400, { error: "invalid JSON" })
    }
    handle(req, res, body)
  })
}

createServer(
  withBody((req, res, body) => {
    if (req.method !== "POST" || typeof body !== "object" || body === null) return answer(res, 400, { error: "bad request" })
    switch (req.url) {
      case "/session/create": {
        if (open !== null) return answer(res, 429)
        open = { id: randomBytes(8).toString("base64url"), auth: JSON.stringify(body.auth_data) }
        return answer(res, 201, { session_id: open.id, expiration: Date.now() / 1000 + 60, generation: 1 })
      }
      case "/session/end": {
        if (open === null || body.session_id !== open.id) return answer(res, 410)
        if (JSON.stringify(body.session_auth) !== open.auth) return answer(res, 401)
        const id = open.id
        open = null
        return answer(res, 200, { ended: true, removed_session: id })
      }
      default:
        return answer(res, 404, { error: "not found" })
    }
  })
).listen(publicPort, "127.0.0.1")

createServer(
  withBody((req, res) => {
    if (req.url !== "/release") return answer(res, 404, { error: "not found" })
    const ids = open === null ? [] : [open.id]
    open = null
    answer(res, 200, ids.length > 0 ? { released: true, session_ids: ids } : { released: false, reason: "no active session" })
  })
).listen(controlPort, "127.0.0.1")

process.on("SIGTERM", () => process.exit(0))
