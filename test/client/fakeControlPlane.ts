import { createServer, type IncomingHttpHeaders, type Server } from "node:http"
import { Effect, Schema } from "effect"
import type { FakeAutoscaler } from "../support/fakeAutoscaler.js"

export const USER_KEY = "user-secret-key"
export const ENDPOINT_KEY = "endpoint-key"
export const ENDPOINT_NAME = "my-null-endpoint"

export interface ControlPlaneRequest {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: unknown
}

const RouteBody = Schema.Struct({
  endpoint: Schema.String,
  api_key: Schema.String,
  cost: Schema.Number,
  request_idx: Schema.Int,
  replay_timeout: Schema.Number
})
const decodeRoute = Schema.decodeUnknownSync(Schema.parseJson(RouteBody), { onExcessProperty: "error" })

/**
 * Vast's webserver (`/api/v0/endptjobs/`) and autoscaler (`/route/`) on one loopback port. `/route/`
 * answers "waiting" `waitingPolls` times, then names a worker signed by `signer`: a new reservation
 * (request_idx 0) gets the first worker; routing again with the same request_idx (after a 429) gets
 * the next one.
 */
export class FakeControlPlane {
  readonly requests: Array<ControlPlaneRequest> = []
  waitingPolls = 0
  private nextIdx = 100
  private reqnum = 0
  private readonly tries = new Map<number, number>()

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly signer: FakeAutoscaler,
    readonly workers: ReadonlyArray<string>
  ) {}

  static async start(signer: FakeAutoscaler, workers: ReadonlyArray<string>): Promise<FakeControlPlane> {
    let self: FakeControlPlane | undefined
    const server = createServer((request, response) => {
      let text = ""
      request.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
      request.on("end", () => {
        const reply = self?.handle(request.url ?? "", request.headers, text) ?? { status: 503, body: {} }
        response.writeHead(reply.status, { "content-type": "application/json" }).end(JSON.stringify(reply.body))
      })
    })
    const port = await new Promise<number>((resolve) =>
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resolve(typeof address === "object" && address !== null ? address.port : 0)
      })
    )
    self = new FakeControlPlane(server, `http://127.0.0.1:${port}`, signer, workers)
    return self
  }

  private handle(url: string, headers: IncomingHttpHeaders, text: string): { status: number; body: unknown } {
    const { pathname, searchParams } = new URL(url, "http://x")
    const body: unknown = text === "" ? null : JSON.parse(text)
    this.requests.push({ path: url, headers, body })
    if (pathname === "/api/v0/endptjobs/") {
      if (headers.authorization !== `Bearer ${USER_KEY}` || searchParams.get("client_id") !== "me") return { status: 401, body: { error: "unauthorized" } }
      return {
        status: 200,
        body: {
          results: [
            { id: 1, endpoint_name: `${ENDPOINT_NAME}-other`, api_key: "other-key", user_id: 9, created_at: 0 },
            { id: 2, endpoint_name: ENDPOINT_NAME, api_key: ENDPOINT_KEY, user_id: 9, created_at: 0 }
          ]
        }
      }
    }
    if (pathname === "/route/") {
      const route = decodeRoute(text)
      if (route.api_key !== ENDPOINT_KEY || route.endpoint !== ENDPOINT_NAME) return { status: 401, body: { error: "bad key" } }
      const requestIdx = route.request_idx === 0 ? this.nextIdx++ : route.request_idx
      if (this.waitingPolls > 0) {
        this.waitingPolls -= 1
        return { status: 200, body: { endpoint: ENDPOINT_NAME, status: { loaded: 0, cold: 1 }, request_idx: requestIdx } }
      }
      const tries = this.tries.get(requestIdx) ?? 0
      this.tries.set(requestIdx, tries + 1)
      const worker = this.workers[tries % this.workers.length] ?? ""
      this.reqnum += 1
      return {
        status: 200,
        body: this.signer.authData(worker, { request_idx: requestIdx, reqnum: this.reqnum, endpoint: ENDPOINT_NAME, cost: route.cost })
      }
    }
    return { status: 404, body: {} }
  }

  /** The `/route/` bodies received, in order. */
  routes(): ReadonlyArray<typeof RouteBody.Type> {
    return this.requests.filter((request) => request.path === "/route/").map((request) => decodeRoute(JSON.stringify(request.body)))
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

export const fakeControlPlane = (signer: FakeAutoscaler, workers: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.promise(() => FakeControlPlane.start(signer, workers)),
    (fake) => Effect.promise(() => fake.close())
  )
