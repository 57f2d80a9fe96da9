/**
 * `scripts/protocol-floor.mjs` is the bare server `npm run bench` measures in the worker's place, to read the
 * worker's ratios against what no framework would reach. The comparison is fair only while it answers the bench's
 * requests as the worker does: the same statuses, the same header names, the same bodies up to ids and times.
 */
import { request as httpRequest } from "node:http"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { freePort, spawnProcess } from "../support/process.js"
import { autoscalerPerTest, eventually, processes, startWorkerProcess } from "../support/workerProcess.js"

const autoscaler = autoscalerPerTest()
const floorJs = fileURLToPath(new URL("../../scripts/protocol-floor.mjs", import.meta.url))

interface Answer {
  readonly status: number
  /** Header names, lower case, in order, without `date` (it changes every second). */
  readonly headers: ReadonlyArray<string>
  readonly contentType: string | undefined
  readonly body: string
}

const post = (port: number, path: string, body?: unknown) =>
  new Promise<Answer>((resolve, reject) => {
    const payload = body === undefined ? "" : JSON.stringify(body)
    const req = httpRequest(
      { host: "127.0.0.1", port, path, method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
      (res) => {
        let text = ""
        res.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase()).filter((name) => name !== "date"),
            contentType: res.headers["content-type"],
            body: text
          })
        )
      }
    )
    req.on("error", reject)
    req.end(payload)
  })

/** What an answer says once its ids and times are blanked: the shape the bench's driver sees. */
const shape = (answer: Answer) => ({
  status: answer.status,
  headers: answer.headers,
  contentType: answer.contentType,
  body: answer.body === "" ? "" : JSON.stringify(JSON.parse(answer.body), (key, value: unknown) => (key === "session_id" || key === "removed_session" || key === "expiration" ? typeof value : key === "session_ids" && Array.isArray(value) ? value.length : value))
})

const createBody = (n: number) => ({ auth_data: { cost: 100, endpoint: "bench", reqnum: n, request_idx: n, signature: "x", url: "u" }, payload: { lifetime: 60 } })

/** The bench's three phases, one request of each kind, as their shapes. */
const benchSequence = async (ports: { readonly public: number; readonly control: number }) => {
  const created = await post(ports.public, "/session/create", createBody(1))
  const sessionId = (JSON.parse(created.body) as { session_id: string }).session_id
  const ended = await post(ports.public, "/session/end", { session_id: sessionId, session_auth: createBody(1).auth_data })
  await post(ports.public, "/session/create", createBody(2))
  const released = await post(ports.control, "/release")
  await post(ports.public, "/session/create", createBody(3))
  const refused = await post(ports.public, "/session/create", createBody(4))
  const releasedAgain = await post(ports.control, "/release")
  const releasedNothing = await post(ports.control, "/release")
  return [created, ended, released, refused, releasedAgain, releasedNothing].map(shape)
}

describe("the protocol floor (scripts/protocol-floor.mjs)", () => {
  it("answers the bench's requests as the worker does", async () => {
    const worker = await startWorkerProcess(autoscaler())
    const ports = { public: await freePort(), control: await freePort() }
    const floor = spawnProcess(process.execPath, [floorJs], { WORKER_PORT: String(ports.public), NULL_CONTROL_PORT: String(ports.control) })
    processes.push(floor)
    // Any answer will do; a path it does not serve changes nothing.
    await eventually("the floor's control port", () => post(ports.control, "/ready").then((answer) => answer.status, () => undefined))

    const fromWorker = await benchSequence(worker.ports)
    const fromFloor = await benchSequence(ports)
    expect(fromFloor).toEqual(fromWorker)
    // And what the comparison is about: the refused create is 429 with no body and no content type.
    expect(fromWorker[3]).toEqual({ status: 429, headers: ["content-length", "connection", "keep-alive"], contentType: undefined, body: "" })
    // JSON answers carry aiohttp's content type (vast-protocol.md §2.1).
    expect(fromWorker[0]?.contentType).toBe("application/json; charset=utf-8")
    // A control path other than /release releases nothing, on either.
    expect((await post(ports.control, "/other")).status).toBe(404)
    expect((await post(worker.ports.control, "/other")).status).toBe(404)
  })
})
