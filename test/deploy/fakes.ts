/**
 * Stand-ins for what scripts/start-vast.sh talks to on Vast: the console's certificate-signing endpoint
 * (signing with a test CA made with the openssl CLI) and the autoscaler's `/worker_status/`, recorded
 * as raw text so a test can check that every body is JSON. All on 127.0.0.1.
 */
import { execFile, execFileSync, type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { waitForMatch } from "../support/waitForMatch.js"

const run = promisify(execFile)

const openssl = (args: ReadonlyArray<string>) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] })

const listen = (server: Server): Promise<string> =>
  new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve(`http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`)
    })
  )

const closeServer = (server: Server): Promise<void> => {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

const readBody = (request: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

/** A throwaway certificate authority in its own directory. */
export class TestCa {
  private constructor(
    readonly dir: string,
    readonly keyFile: string,
    readonly certFile: string
  ) {}

  static make(): TestCa {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-ca-"))
    const [keyFile, certFile] = [join(dir, "ca.key"), join(dir, "ca.crt")]
    openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=null-worker test CA"])
    return new TestCa(dir, keyFile, certFile)
  }

  /** Sign a PEM CSR for 127.0.0.1 (as Vast signs for the instance's address); returns the PEM certificate. */
  async sign(csrPem: string): Promise<string> {
    const id = randomBytes(6).toString("hex")
    const [csrFile, extFile] = [join(this.dir, `${id}.csr`), join(this.dir, `${id}.ext`)]
    writeFileSync(csrFile, csrPem)
    writeFileSync(extFile, "subjectAltName=IP:127.0.0.1,IP:0.0.0.0\nbasicConstraints=CA:FALSE\n")
    const { stdout } = await run("openssl", [
      "x509", "-req", "-in", csrFile, "-CA", this.certFile, "-CAkey", this.keyFile,
      "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-days", "1", "-sha256", "-extfile", extFile
    ])
    return stdout
  }

  /** A valid certificate from this CA for a key nobody else has. */
  certificateForAnotherKey(): Promise<string> {
    const key = join(this.dir, "other.key")
    const csr = openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", "/CN=someone else"]).toString("utf8")
    return this.sign(csr)
  }
}

export interface SignRequest {
  readonly url: string
  readonly contentType: string | undefined
  readonly body: string
}

/**
 * The console's `POST /api/v0/sign_cert/?instance_id=…`. `answers` is consumed one per request (the
 * last one repeats): "sign" signs the posted CSR with the CA; "endless" a 200 sent without a size whose body never
 * ends (`endlessSent` counts its bytes, up to 64 MiB); anything else is a fixed status and body.
 */
export class FakeSigner {
  readonly requests: Array<SignRequest> = []
  readonly issued: Array<string> = []
  answers: Array<"sign" | "endless" | { readonly status: number; readonly body: string }> = ["sign"]
  endlessSent = 0

  private constructor(
    private readonly server: Server,
    readonly url: string
  ) {}

  static async start(ca: TestCa): Promise<FakeSigner> {
    let self: FakeSigner | undefined
    const server = createServer((request, response) => void self?.handle(ca, request, response))
    self = new FakeSigner(server, await listen(server))
    return self
  }

  private async handle(ca: TestCa, request: IncomingMessage, response: ServerResponse) {
    const body = (await readBody(request)).toString("utf8")
    this.requests.push({ url: request.url ?? "", contentType: request.headers["content-type"], body })
    const answer = this.answers.length > 1 ? this.answers.shift() : this.answers[0]
    if (answer === undefined || answer === "sign") {
      try {
        const pem = await ca.sign(body)
        this.issued.push(pem)
        response.writeHead(200, { "content-type": "application/x-pem-file" }).end(pem)
      } catch (error) {
        response.writeHead(400).end(String(error))
      }
    } else if (answer === "endless") {
      response.writeHead(200, { "content-type": "application/x-pem-file" })
      const chunk = Buffer.alloc(64 * 1024, "A")
      const more = () => {
        while (!response.destroyed && this.endlessSent < 64 * 1024 * 1024) {
          this.endlessSent += chunk.length
          if (!response.write(chunk)) return void response.once("drain", more)
        }
      }
      more()
    } else {
      response.writeHead(answer.status).end(answer.body)
    }
  }

  close(): Promise<void> {
    return closeServer(this.server)
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

export interface Report {
  readonly text: string
  /** `JSON.parse(text)`, or undefined when the text is not JSON. */
  readonly json: Record<string, unknown> | undefined
}

/** The autoscaler's `/worker_status/` (and `/delete_requests/`), recording every body as sent. */
export class ReportRecorder {
  readonly statuses: Array<Report> = []
  /** Every request's target (path and query) and `Authorization` header, in order. */
  readonly requests: Array<{ readonly target: string; readonly authorization: string | undefined }> = []
  /** Appended to a timeout's message (e.g. the end of the worker's log). */
  diagnostics: () => string = () => ""
  private readonly waiters: Array<() => void> = []

  private constructor(
    private readonly server: Server,
    readonly url: string
  ) {}

  static async start(): Promise<ReportRecorder> {
    let self: ReportRecorder | undefined
    const server = createServer((request, response) => {
      void readBody(request).then((body) => {
        self?.requests.push({ target: request.url ?? "", authorization: request.headers.authorization })
        // Under a base path and with a query too (`REPORT_ADDR=http://host/base?k=v` posts to `/base/worker_status/?k=v`).
        const path = new URL(request.url ?? "/", "http://recorder").pathname
        if (path.endsWith("/worker_status/")) self?.record(body.toString("utf8"))
        response.writeHead(path.endsWith("/worker_status/") || path.endsWith("/delete_requests/") ? 200 : 404).end("{}")
      })
    })
    self = new ReportRecorder(server, await listen(server))
    return self
  }

  private record(text: string) {
    let json: Record<string, unknown> | undefined
    try {
      const parsed: unknown = JSON.parse(text)
      if (isRecord(parsed)) json = parsed
    } catch {
      json = undefined
    }
    this.statuses.push({ text, json })
    for (const wake of this.waiters.splice(0)) wake()
  }

  /** Reports whose body has `error_msg` other than "" (or is not JSON at all). */
  errors(): Array<Report> {
    return this.statuses.filter((report) => report.json === undefined || report.json["error_msg"] !== "")
  }

  waitFor(matches: (report: Report) => boolean, ms = 15_000): Promise<Report> {
    return waitForMatch({ items: this.statuses, waiters: this.waiters }, matches, ms, () =>
      `no matching /worker_status/ in ${ms} ms; got ${JSON.stringify(this.statuses.map((s) => s.text))}\n${this.diagnostics()}`
    )
  }

  close(): Promise<void> {
    return closeServer(this.server)
  }
}

export interface ScriptRun {
  readonly child: ChildProcess
  /** What the script printed (stdout and stderr) before it exec'd the worker. */
  output(): string
  readonly exited: Promise<number | null>
}

/**
 * `bash <script>` with `env` added to PATH and HOME only. `groupLeader`: in a process group of its own, so that a test
 * can signal the whole group as `timeout` does.
 */
export const runScript = (
  script: string,
  env: Record<string, string>,
  options: { readonly groupLeader?: boolean; readonly cwd?: string } = {}
): ScriptRun => {
  const child = spawn("bash", [script], {
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: tmpdir(), ...env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.groupLeader === true
  })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return { child, output: () => output, exited }
}
