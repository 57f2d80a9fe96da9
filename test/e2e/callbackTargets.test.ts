import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { SessionsAnswer } from "../../src/protocol/control.js"
import { CreateSessionAnswer } from "../../src/protocol/session.js"
import { VERSION } from "../../src/shared/version.js"
import { authData, autoscalerPerTest, decoded, eventually, request, startReceiver, startWorkerProcess } from "../support/workerProcess.js"

const autoscaler = autoscalerPerTest()

/** The part of `/debug` these tests read. */
const DebugCallbacks = Schema.Struct({
  callbacks: Schema.Struct({
    pending: Schema.Number,
    in_flight: Schema.Number,
    failed: Schema.Number,
    deliveries: Schema.Array(Schema.Struct({ state: Schema.String, attempts: Schema.Number, last_error: Schema.NullOr(Schema.String) }))
  }),
  mode: Schema.String
})

/** A callback target that answers every request with a 307 to `location`. */
const redirectingTo = (location: string) => startReceiver((_, response) => void response.writeHead(307, { location }).end())

/** Open a session whose callback goes to `route`, release it, and wait until its delivery has finished. */
const closeWithCallback = async (worker: { readonly publicUrl: string; readonly controlUrl: string }, route: string, payload: unknown) => {
  const created = await request(`${worker.publicUrl}/session/create`, {
    body: { auth_data: authData(), payload: { lifetime: 60, on_close_route: route, on_close_payload: payload } }
  })
  expect(created.status, created.text).toBe(201)
  decoded(CreateSessionAnswer, created)
  expect((await request(`${worker.controlUrl}/release`)).status).toBe(200)
  return eventually("the delivery to finish", async () => {
    const debug = decoded(DebugCallbacks, await request(`${worker.controlUrl}/debug`, { method: "GET" }))
    return debug.callbacks.pending === 0 ? debug : undefined
  })
}

describe("callback destinations, against the real process", () => {
  it("a callback redirected to the worker's own control port is refused at connect: the worker is not recycled", async () => {
    const worker = await startWorkerProcess(autoscaler())
    const target = await redirectingTo(`${worker.controlUrl}/recycle`)
    const debug = await closeWithCallback(worker, `${target.url}/closed`, { reason: "via a redirect" })
    expect(debug.callbacks.failed).toBe(1)
    expect(debug.callbacks.in_flight).toBe(0)
    // Final at once: no retries against a destination that will never be allowed.
    expect(debug.callbacks.deliveries).toEqual([{ state: "failed", attempts: 1, last_error: "refused: the destination is one of this worker's own ports" }])
    expect(debug.mode).toBe("serving")
    expect((await request(`${worker.publicUrl}/session/create`, { body: { auth_data: authData({ request_idx: 2 }) } })).status).toBe(201)
  })

  it("a callback aimed at another worker's control port (two workers on one host, as under the local serverless) is refused there, naming its User-Agent: the sibling is not recycled", async () => {
    const worker = await startWorkerProcess(autoscaler())
    const sibling = await startWorkerProcess(autoscaler())
    const debug = await closeWithCallback(worker, `${sibling.controlUrl}/recycle`, { reason: "recycled by another worker's session" })
    expect(debug.callbacks.deliveries).toEqual([{ state: "failed", attempts: 1, last_error: "status 403" }])
    const siblingDebug = decoded(DebugCallbacks, await request(`${sibling.controlUrl}/debug`, { method: "GET" }))
    expect(siblingDebug.mode).toBe("serving")
    // Its own consumer, which sends no such User-Agent, still recycles it.
    expect((await request(`${sibling.controlUrl}/recycle`, { body: { reason: "bad GPU" } })).status).toBe(200)
  })

  it("a callback names its sender in its User-Agent", async () => {
    const worker = await startWorkerProcess(autoscaler())
    const agents: Array<string | undefined> = []
    const receiver = await startReceiver((request, response) => {
      agents.push(request.headers["user-agent"])
      response.writeHead(200).end()
    })
    await closeWithCallback(worker, `${receiver.url}/closed`, {})
    expect(agents).toEqual([`null-worker-callback/${VERSION}`])
  })

  it("a redirect to the worker's own /session/create opens no session", async () => {
    const worker = await startWorkerProcess(autoscaler())
    const target = await redirectingTo(`http://localhost:${worker.ports.public}/session/create`)
    await closeWithCallback(worker, `${target.url}/closed`, { auth_data: authData({ request_idx: 7 }), payload: { lifetime: 600 } })
    const sessions = decoded(SessionsAnswer, await request(`${worker.controlUrl}/sessions`, { method: "GET" }))
    expect(sessions.sessions).toEqual([])
  })

  it("a redirect to a scheme other than http(s) fails the delivery at once; it is never left pending", async () => {
    const worker = await startWorkerProcess(autoscaler(), { CALLBACK_MAX_PENDING: "1" })
    for (const location of ["data:,x", "file:///etc/passwd", "ftp://127.0.0.1/x"]) {
      const target = await redirectingTo(location)
      const debug = await closeWithCallback(worker, `${target.url}/closed`, { k: 1 })
      expect(debug.callbacks.in_flight, location).toBe(0)
      expect(debug.callbacks.deliveries.at(-1), location).toEqual({
        state: "failed",
        attempts: 1,
        last_error: `status 307: redirect to a ${new URL(location).protocol} URL`
      })
    }
    // With the cap at one, a stuck delivery would refuse this create with 503.
    const receiver = await startReceiver()
    const created = await request(`${worker.publicUrl}/session/create`, {
      body: { auth_data: authData({ request_idx: 9 }), payload: { on_close_route: `${receiver.url}/ok` } }
    })
    expect(created.status, created.text).toBe(201)
  })

  it("a receiver's 503 with Retry-After: 2 gets the retry 2 s later, not after the schedule's 1 s", async () => {
    const worker = await startWorkerProcess(autoscaler())
    const arrivals: Array<number> = []
    const target = await startReceiver((_, response) => {
      arrivals.push(performance.now())
      if (arrivals.length === 1) response.writeHead(503, { "retry-after": "2" }).end()
      else response.writeHead(200).end()
    })
    const debug = await closeWithCallback(worker, `${target.url}/closed`, { k: 1 })
    expect(debug.callbacks.deliveries.at(-1)).toMatchObject({ state: "delivered", attempts: 2 })
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(1950)
  })
})
