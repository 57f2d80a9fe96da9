/**
 * Real `node dist/main.js` processes for end-to-end tests: free loopback ports, a fake autoscaler to report
 * to, callback receivers, and small HTTP helpers. Everything started is tracked and stopped after each test.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { Schema } from "effect"
import { afterEach, beforeEach } from "vitest"
import { tracked } from "./cleanup.js"
import { FakeAutoscaler } from "./fakeAutoscaler.js"
import { freePort, type Spawned, spawnWorker } from "./process.js"
import { until as eventually } from "./serverless.js"

/** Poll until a value comes (one helper for every process test). */
export { eventually }

export const { cleanup, processes, servers } = tracked()

/**
 * A fresh fake autoscaler for each test of the file; after each test, what it started is stopped, then the
 * autoscaler. Call at the top level of a test file; the getter answers the current test's autoscaler.
 */
export const autoscalerPerTest = (): (() => FakeAutoscaler) => {
  let current: FakeAutoscaler | undefined
  beforeEach(async () => {
    current = await FakeAutoscaler.start()
  })
  afterEach(async () => {
    await cleanup()
    await current?.close()
  })
  return () => {
    if (current === undefined) throw new Error("autoscalerPerTest: used outside a test")
    return current
  }
}

export interface Reply {
  readonly status: number
  readonly text: string
  readonly json: unknown
}

export const request = async (url: string, init: { readonly method?: string; readonly body?: unknown; readonly headers?: Record<string, string> } = {}): Promise<Reply> => {
  const response = await fetch(url, {
    method: init.method ?? "POST",
    headers: { "content-type": "application/json", ...init.headers },
    ...(init.body === undefined ? {} : { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) })
  })
  const text = await response.text()
  let json: unknown = null
  try {
    json = text === "" ? null : JSON.parse(text)
  } catch {
    json = null
  }
  return { status: response.status, text, json }
}

/** Decode a reply's JSON with a protocol Schema: the test fails on any other shape. */
export const decoded = <A, I>(schema: Schema.Schema<A, I>, reply: Reply): A => Schema.decodeUnknownSync(schema)(reply.json)

export interface WorkerProcess {
  readonly worker: Spawned
  readonly publicUrl: string
  readonly webhookUrl: string
  readonly controlUrl: string
  readonly ports: { readonly public: number; readonly webhook: number; readonly control: number }
  readonly env: Record<string, string>
}

/** The environment of a worker on free ports reporting to `autoscaler` (unsecured unless `extra` says otherwise). */
export const workerEnv = async (autoscaler: FakeAutoscaler, extra: Record<string, string> = {}) => {
  const [publicPort, webhookPort, controlPort] = [await freePort(), await freePort(), await freePort()]
  const env: Record<string, string> = {
    WORKER_PORT: String(publicPort),
    WORKER_HTTP_PORT: String(webhookPort),
    NULL_CONTROL_PORT: String(controlPort),
    REPORT_ADDR: autoscaler.url,
    CONTAINER_ID: "31337",
    MASTER_TOKEN: "tok",
    PUBLIC_IPADDR: "127.0.0.1",
    [`VAST_TCP_PORT_${publicPort}`]: String(publicPort),
    UNSECURED: "true",
    HEALTHCHECK_INTERVAL: "0.2",
    ...extra
  }
  // `extra` may name the ports itself (a worker started again on another's): the ports are the ones the worker is given.
  const port = (name: string) => Number(env[name])
  return { env, ports: { public: port("WORKER_PORT"), webhook: port("WORKER_HTTP_PORT"), control: port("NULL_CONTROL_PORT") } }
}

/** Start a worker and wait until its control port answers (whatever the log level); `stdout` as `spawnProcess` takes it. */
export const startWorkerProcess = async (autoscaler: FakeAutoscaler, extra: Record<string, string> = {}, stdout?: number): Promise<WorkerProcess> => {
  const { env, ports } = await workerEnv(autoscaler, extra)
  const worker = spawnWorker(env, stdout)
  processes.push(worker)
  await eventually("the control port", async () => {
    if (worker.child.exitCode !== null) throw new Error(`the worker exited: ${worker.output()}`)
    const answered = await fetch(`http://127.0.0.1:${ports.control}/sessions`).then(
      (response) => response.ok,
      () => false
    )
    return answered ? true : undefined
    // Generous: on a loaded 2-core machine a node start can take seconds.
  }, 20_000)
  const scheme = env["USE_SSL"] === "true" ? "https" : "http"
  return {
    worker,
    env,
    ports,
    publicUrl: `${scheme}://127.0.0.1:${ports.public}`,
    webhookUrl: `http://127.0.0.1:${ports.webhook}`,
    controlUrl: `http://127.0.0.1:${ports.control}`
  }
}

export interface ReceivedCallback {
  readonly path: string
  readonly body: unknown
  readonly text: string
}

export interface Receiver {
  readonly url: string
  readonly port: number
  /** Resolves with the next body received (in order): parsed, and the text as it came. */
  readonly next: () => Promise<ReceivedCallback>
  readonly count: () => number
}

/** A callback target on a free port; `answer` decides each response (200 by default; `hang` never answers). */
export const startReceiver = async (
  answer: (request: IncomingMessage, response: ServerResponse) => "hang" | void = (_, response) => void response.writeHead(200).end()
): Promise<Receiver> => {
  const bodies: Array<ReceivedCallback> = []
  const waiting: Array<(entry: ReceivedCallback) => void> = []
  let count = 0
  const server = createServer((req, res) => {
    let text = ""
    req.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
    req.on("end", () => {
      count++
      const entry = { path: req.url ?? "", body: text === "" ? null : (JSON.parse(text) as unknown), text }
      const waiter = waiting.shift()
      if (waiter) waiter(entry)
      else bodies.push(entry)
      answer(req, res)
    })
  })
  servers.push(server)
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve(typeof address === "object" && address !== null ? address.port : 0)
    })
  )
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    next: () => (bodies.length > 0 ? Promise.resolve(bodies.shift() ?? { path: "", body: null, text: "" }) : new Promise((resolve) => waiting.push(resolve))),
    count: () => count
  }
}

export { authData } from "./sessions.js"

