// What the benchmark drivers send, the same in each and as `ab.mjs` sends it: a create body with a fresh
// `reqnum`/`request_idx`, over keep-alive connections one request at a time.
import http from "node:http"

/** A `createBody()` whose bodies number their requests from 1. */
export const createBodies = () => {
  let next = 1
  return () => {
    const n = next++
    return { auth_data: { cost: 100, endpoint: "bench", reqnum: n, request_idx: n, signature: "x", url: "u" }, payload: { lifetime: 60 } }
  }
}

/** One keep-alive connection, one request at a time on it, as a sequential client holds it. */
export const keepAliveAgent = () => new http.Agent({ keepAlive: true, maxSockets: 1 })

/**
 * A stand-in autoscaler on a free loopback port that accepts every report and deletion, in the driver's process as in
 * `ab.mjs` (what the worker reports costs the driver too). Its `url`, and `close`.
 */
export const standInAutoscaler = async (freePort) => {
  const server = http.createServer((request, response) => {
    request.resume()
    request.on("end", () => response.writeHead(200, { "content-type": "application/json" }).end("{}"))
  })
  const port = await freePort()
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve))
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() }
}
