import { generateKeyPairSync, type KeyObject, sign } from "node:crypto"
import { createServer, type Server } from "node:http"
import { Effect, Schema } from "effect"
import { signedMessage } from "../../src/protocol/signedMessage.js"
import { DeleteRequestsBody, WorkerStatusBody } from "../../src/protocol/workerStatus.js"
import { waitForMatch } from "./waitForMatch.js"

// Decoding what the worker sends also checks it sends the protocol's exact shapes.
const decodeStatus = Schema.decodeUnknownSync(Schema.parseJson(WorkerStatusBody), { onExcessProperty: "error" })
const decodeDeletions = Schema.decodeUnknownSync(Schema.parseJson(DeleteRequestsBody), { onExcessProperty: "error" })

/** What the fake answers; change the fields at any time. */
export interface FakeAutoscalerMode {
  /** `/worker_status/` and `/delete_requests/` answer 503. */
  down: boolean
  /** `/pubkey/` answers 500. */
  pubkeyFails: boolean
}

/**
 * A stand-in for Vast's autoscaler on 127.0.0.1 (a free port): it serves a public key it generated,
 * signs `auth_data` like `/route/` does, and records every report it receives.
 */
export class FakeAutoscaler {
  readonly statuses: Array<WorkerStatusBody> = []
  readonly deletions: Array<DeleteRequestsBody> = []
  readonly mode: FakeAutoscalerMode = { down: false, pubkeyFails: false }
  pubkeyRequests = 0
  private privateKey: KeyObject
  /** The key `/pubkey/` serves; `rotateKey` replaces it. */
  publicKeyPem: string
  private readonly waiters: Array<() => void> = []

  private constructor(
    private readonly server: Server,
    readonly url: string,
    keys: { readonly privateKey: KeyObject; readonly publicKeyPem: string }
  ) {
    this.privateKey = keys.privateKey
    this.publicKeyPem = keys.publicKeyPem
  }

  static async start(): Promise<FakeAutoscaler> {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
    const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString()
    let self: FakeAutoscaler | undefined
    const server = createServer((request, response) => {
      let text = ""
      request.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
      request.on("end", () => self?.handle(request.url ?? "", text, (status, body) => response.writeHead(status).end(body)))
    })
    const port = await new Promise<number>((resolve) =>
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resolve(typeof address === "object" && address !== null ? address.port : 0)
      })
    )
    self = new FakeAutoscaler(server, `http://127.0.0.1:${port}`, { privateKey, publicKeyPem })
    return self
  }

  private handle(path: string, text: string, reply: (status: number, body: string) => void) {
    if (path === "/pubkey/") {
      this.pubkeyRequests += 1
      return this.mode.pubkeyFails ? reply(500, "") : reply(200, this.publicKeyPem)
    }
    if (this.mode.down) return reply(503, "")
    if (path === "/worker_status/") this.statuses.push(decodeStatus(text))
    else if (path === "/delete_requests/") this.deletions.push(decodeDeletions(text))
    else return reply(404, "")
    reply(200, "{}")
    for (const wake of this.waiters.splice(0)) wake()
  }

  /** A new signing key, served from now on: a rotation. What was signed before stays signed by the old one. */
  rotateKey(): void {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
    this.privateKey = privateKey
    this.publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString()
  }

  /** A signature over `url`, as the autoscaler makes it. */
  sign(url: string): string {
    return sign("sha256", Buffer.from(signedMessage(url), "utf8"), this.privateKey).toString("base64")
  }

  /** A routing answer for `url`, signed. */
  authData(url: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return { url, signature: this.sign(url), reqnum: 917, request_idx: 4242, endpoint: "my-null-endpoint", cost: 100, __request_id: "r-1", ...overrides }
  }

  /** Resolves with the first report (from now on or already received) that `matches`. */
  waitForStatus(matches: (status: WorkerStatusBody) => boolean, ms = 10_000): Promise<WorkerStatusBody> {
    return waitForMatch({ items: this.statuses, waiters: this.waiters }, matches, ms, () =>
      `no matching /worker_status/ in ${ms} ms; got ${JSON.stringify(this.statuses.at(-1))}`
    )
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/** The fake as a scoped resource for Effect tests. */
export const fakeAutoscaler = Effect.acquireRelease(
  Effect.promise(() => FakeAutoscaler.start()),
  (fake) => Effect.promise(() => fake.close())
)
