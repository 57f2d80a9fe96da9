/**
 * scripts/start-vast.sh, run for real with bash in a temporary workspace, against a fake signing
 * endpoint (a test CA made with openssl) and a recording autoscaler, all on 127.0.0.1: the environment
 * checks, the TLS step, and the launcher's error reports. (Cloning, building and CONSUMER_CMD are in
 * startVastProcesses.test.ts.)
 */
import { execFileSync, spawnSync } from "node:child_process"
import { X509Certificate } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { request as httpsRequest } from "node:https"
import { join, relative as relativePath } from "node:path"
import { TLSSocket } from "node:tls"
import { describe, expect, it } from "vitest"
import { ReportRecorder } from "./fakes.js"
import { DeployHarness, isReady, root, scriptInCheckout } from "./harness.js"
import { PROTOCOL_VERSION } from "../../src/protocol/workerStatus.js"

/** A URL as the script shows it: its query (the instance id, or a key) as `?…`. */
const shownUrl = (url: string | undefined) => (url ?? "").replace(/[?#].*$/, "?…")

const h = DeployHarness.use()

/** Quotes, backslashes, newlines, a tab, a control character, non-ASCII text and shell syntax. */
const nasty = `we"ird\\dir\nsecond "line"\ttab \u0001 é✓ $HOME \`id\` 'q' \\n`

/** POST over TLS, trusting only the test CA; also returns the certificate the server showed. */
const httpsPost = (url: string, body: string) =>
  new Promise<{ status: number; text: string; fingerprint: string }>((resolve, reject) => {
    const options = { method: "POST", ca: readFileSync(h.ca.certFile), headers: { "content-type": "application/json" } }
    const request = httpsRequest(url, options, (response) => {
      const socket = response.socket
      const fingerprint = socket instanceof TLSSocket ? socket.getPeerCertificate().fingerprint256 : ""
      let text = ""
      response.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, text, fingerprint }))
    })
    request.on("error", reject)
    request.end(body)
  })

describe("start-vast.sh: environment, TLS and error reports", () => {
  it("a good run signs the CSR (after one failed try), checks the certificate, execs the worker serving TLS with it, and SIGTERM ends it with 0", async () => {
    h.signer.answers = [{ status: 503, body: "try again" }, "sign"]
    const { env, workerPort, workspace } = await h.vastEnv({ SIGN_CERT_ATTEMPTS: "3", SIGN_CERT_RETRY_DELAY: "1", DRAIN_TIMEOUT: "0" })
    // The script inside the checkout runs the checkout it lives in (dist/main.js is built).
    const run = h.start(scriptInCheckout, env)
    const ready = await h.recorder.waitFor(isReady)
    expect(ready.json?.["url"]).toBe(`https://127.0.0.1:${workerPort}`)
    expect(ready.json?.["id"]).toBe(31337)

    // The CSR, as start_server.sh makes it, posted as octet-stream to SIGN_CERT_URL (twice: one retry).
    expect(h.signer.requests.map((request) => [request.url, request.contentType])).toEqual([
      ["/api/v0/sign_cert/?instance_id=31337", "application/octet-stream"],
      ["/api/v0/sign_cert/?instance_id=31337", "application/octet-stream"]
    ])
    const csr = execFileSync("openssl", ["req", "-noout", "-subject", "-text"], { input: h.signer.requests[1]?.body ?? "" }).toString()
    expect(csr).toMatch(/subject=C = US, ST = CA, CN = pyworker\.vast\.ai/)
    expect(csr).toContain("IP Address:0.0.0.0")
    expect(csr).toContain("Public-Key: (2048 bit)")

    // The signed certificate is installed; the key is readable by its owner only.
    const issued = h.signer.issued[0] ?? ""
    expect(readFileSync(env["TLS_CERT_FILE"] ?? "", "utf8")).toBe(issued)
    expect(statSync(env["TLS_KEY_FILE"] ?? "").mode & 0o077).toBe(0)

    // The worker serves it: the handshake verifies with the test CA, and a reservation works (UNSECURED=true).
    const auth = { url: ready.json?.["url"], signature: "x", reqnum: 1, request_idx: 1, endpoint: "e", cost: 100 }
    const created = await httpsPost(`https://127.0.0.1:${workerPort}/session/create`, JSON.stringify({ auth_data: auth, payload: { lifetime: 30 } }))
    expect(created.status).toBe(201)
    expect(JSON.parse(created.text)).toHaveProperty("session_id")
    expect(created.fingerprint).toBe(new X509Certificate(issued).fingerprint256)

    // The script's PID is the worker's: it exec'd node.
    const pid = run.child.pid ?? 0
    if (existsSync(`/proc/${pid}/comm`)) expect(readFileSync(`/proc/${pid}/comm`, "utf8").trim()).toBe("node")
    // Our lines on stdout and in the log; the worker's output in the log.
    expect(run.output()).toContain("TLS certificate signed and checked")
    expect(run.output()).toContain("starting the worker")
    const log = readFileSync(join(workspace, "null-worker.log"), "utf8")
    expect(log).toContain("signing attempt 1/3 failed (HTTP 503: try again)")
    expect(log).toContain("public API (TLS) listening")
    // openssl's progress lines (dots and pluses while it makes the key) are not kept.
    expect(log).not.toMatch(/^[-.+*]+$/m)
    expect(h.recorder.errors()).toEqual([])

    run.child.kill("SIGTERM")
    expect(await run.exited).toBe(0)
  })

  it("without CONTAINER_ID it exits 1, reports nothing (no id would name this worker) and makes no workspace", async () => {
    const { env, workspace } = await h.vastEnv()
    delete env["CONTAINER_ID"]
    const run = h.start(h.detachedScript, env)
    expect(await run.exited).toBe(1)
    expect(run.output()).toContain("ERROR: CONTAINER_ID must be set")
    // Someone trying it off Vast is sent to the page's rehearsal, which sets what Vast would.
    expect(run.output()).toContain('to try it on your machine, see docs/deploy-vast.md, "Before you pay for an instance"')
    expect(run.output()).toContain("not reported to the autoscaler: CONTAINER_ID is not set")
    expect(existsSync(workspace)).toBe(false)
    expect(h.recorder.statuses).toEqual([])
    expect(h.signer.requests).toEqual([])
  })

  it("a CONTAINER_ID that is not a number is reported as it is, and exits 1", async () => {
    const { env } = await h.vastEnv({ CONTAINER_ID: "abc" })
    const report = await h.launchFailure(h.start(h.detachedScript, env))
    expect(report["id"]).toBe("abc")
    expect(report["error_msg"]).toBe("CONTAINER_ID must be an integer, got: abc")
  })

  it.each([
    ["OUTBOX_FILE", " /data/outbox.jsonl"],
    ["LOG_FILE", "/workspace/start.log\t"]
  ])("a path with surrounding whitespace (%s) is refused naming it, not made relative, and reported; nothing is made", async (name, value) => {
    const { env, workspace } = await h.vastEnv()
    const report = await h.launchFailure(h.start(h.detachedScript, { ...env, [name]: value }))
    expect(report["error_msg"]).toBe(`${name} has surrounding whitespace ("${value}"): remove it`)
    expect(existsSync(workspace)).toBe(false)
  })

  it.each(["NULL_EXIT_FILE", "NULL_FORCE_UPDATE_FILE"])("a marker (%s) that is the callback journal, through a link too, is reported and exits 1 before anything removes it", async (name) => {
    const { env, workspace } = await h.vastEnv()
    const journal = join(workspace, "outbox.jsonl")
    mkdirSync(workspace, { recursive: true })
    writeFileSync(journal, "kept\n")
    symlinkSync(journal, join(workspace, `${name}.link`))
    const report = await h.launchFailure(h.start(h.detachedScript, { ...env, OUTBOX_FILE: journal, [name]: join(workspace, `${name}.link`) }))
    expect(report["error_msg"]).toBe(`${name} and OUTBOX_FILE are the same file (${journal}); each needs its own, or the callbacks kept there would be lost`)
    expect(readFileSync(journal, "utf8")).toBe("kept\n")
  })

  it("a failed signing is reported as JSON to every REPORT_ADDR item, one try each, and exits 1", async () => {
    const second = await ReportRecorder.start()
    try {
      const body = `{"error": "no \\"quota\\" left"}\n`
      h.signer.answers = [{ status: 500, body }]
      const { env, workerPort } = await h.vastEnv({
        // Items are trimmed and lose their trailing "/"; an unreachable one does not stop the others.
        REPORT_ADDR: ` ${h.recorder.url}/ ,http://127.0.0.1:9, ${second.url}//`,
        NULL_WORKER_VERSION: "0.1.0",
        NULL_WORKER_DIR: root
      })
      const report = await h.launchFailure(h.start(h.detachedScript, env))
      expect(report).toEqual({
        id: 31337,
        mtoken: "tok",
        version: "0.1.0",
        error_msg: `signing the TLS certificate at ${shownUrl(env["SIGN_CERT_URL"])} failed after 1 attempt (HTTP 500: ${body.trimEnd()})`,
        url: `https://127.0.0.1:${workerPort}`
      })
      expect(second.statuses.map((status) => status.json)).toEqual([report])
      for (const recorder of [h.recorder, second]) expect(recorder.requests.map((request) => request.target)).toEqual(["/worker_status/"])
      expect(h.signer.requests).toHaveLength(1)
      expect(existsSync(env["TLS_CERT_FILE"] ?? "")).toBe(false)
    } finally {
      await second.close()
    }
  })

  it("a REPORT_ADDR with credentials, a base path and a query: reported where the worker reports (path before query), its secrets never shown", async () => {
    const keyed = await ReportRecorder.start()
    try {
      h.signer.answers = [{ status: 500, body: "no" }]
      const port = new URL(keyed.url).port
      const { env } = await h.vastEnv({ REPORT_ADDR: `${h.recorder.url},http://ruser:RPASS@127.0.0.1:${port}/base/?key=RQ&n={1}[3]#frag,?only=RQ`, NULL_WORKER_DIR: root })
      const run = h.start(h.detachedScript, env)
      const report = await h.launchFailure(run)
      expect(report["error_msg"]).toContain("signing the TLS certificate")
      // One post (curl's `{…}` and `[…]` patterns off), the path before the query.
      expect(keyed.requests).toEqual([{ target: "/base/worker_status/?key=RQ&n={1}[3]", authorization: `Basic ${Buffer.from("ruser:RPASS").toString("base64")}` }])
      const log = readFileSync(join(env["WORKSPACE_DIR"] ?? "", "null-worker.log"), "utf8")
      for (const text of [run.output(), log]) {
        expect(text).toContain(`REPORT_ADDR=${h.recorder.url},http://127.0.0.1:${port}/base/?…,?… `)
        expect(text).toContain(`reported the error to http://127.0.0.1:${port}/base/worker_status/?… (HTTP 200)`)
        // An item with no address is said, not skipped in silence.
        expect(text).toContain("could not report the error to ?…: a REPORT_ADDR item with no address before its query")
        for (const secret of ["RPASS", "ruser", "RQ", "frag"]) expect(text).not.toContain(secret)
      }
    } finally {
      await keyed.close()
    }
  })

  it("a report answered 307 or 308 is posted again where it points on the same host and port, or from http to https; elsewhere, or past 3 hops, it is not (review 55 I4)", async () => {
    const other = await ReportRecorder.start()
    const seen: Array<{ readonly target: string; readonly text: string }> = []
    const redirects: Record<string, [number, string]> = {
      "/front/worker_status/": [308, "/back/worker_status/?k=KQ"],
      "/away/worker_status/": [307, `${other.url}/worker_status/`],
      "/loop/worker_status/": [307, "/loop/worker_status/"]
    }
    const front = createServer((request, response) => {
      let text = ""
      request.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
      request.on("end", () => {
        const target = request.url ?? ""
        seen.push({ target, text })
        const redirect = redirects[new URL(target, "http://front").pathname]
        if (redirect === undefined) response.writeHead(200).end("{}")
        else response.writeHead(redirect[0], { location: redirect[1] }).end()
      })
    })
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve))
    const address = front.address()
    const url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
    try {
      h.signer.answers = [{ status: 500, body: "no" }]
      const { env } = await h.vastEnv({ REPORT_ADDR: `${h.recorder.url},${url}/front,${url}/away,${url}/loop`, NULL_WORKER_DIR: root })
      const run = h.start(h.detachedScript, env)
      const report = await h.launchFailure(run)
      expect(seen.map((request) => request.target)).toEqual([
        "/front/worker_status/",
        "/back/worker_status/?k=KQ",
        "/away/worker_status/",
        ...Array.from({ length: 4 }, () => "/loop/worker_status/")
      ])
      // The same report each time, the one the first address got.
      for (const request of seen) expect(JSON.parse(request.text)).toEqual(report)
      expect(other.requests).toEqual([])
      const output = run.output()
      expect(output).toContain(`reported the error to ${url}/back/worker_status/?… (HTTP 200)`)
      expect(output).toContain(
        `could not report the error to ${url}/away/worker_status/ (HTTP 307; its redirect to ${other.url}/worker_status/ not followed: another host, port or scheme)`
      )
      expect(output).toContain(`could not report the error to ${url}/loop/worker_status/ (HTTP 307; more than 3 redirects)`)
      expect(output).not.toContain("KQ")
    } finally {
      front.close()
      await other.close()
    }
  })

  it("a signing URL nobody answers is reported with what curl's status means", async () => {
    const { env } = await h.vastEnv({ NULL_WORKER_DIR: root, SIGN_CERT_URL: "http://127.0.0.1:9/sign", SIGN_CERT_ATTEMPTS: "1" })
    const report = await h.launchFailure(h.start(h.detachedScript, env))
    expect(report["error_msg"]).toBe("signing the TLS certificate at http://127.0.0.1:9/sign failed after 1 attempt (curl status 7: could not connect)")
  })

  it.each([
    ["junk", () => Promise.resolve("hello, I am not a certificate"), "is not a PEM certificate (it starts with: hello, I am not a certificate)"],
    ["a valid certificate for another key", () => h.ca.certificateForAnotherKey(), "is not for our key"],
    // OpenSSL's PEM reader takes minutes on a few MB that are not PEM: not read (probe 56 #3).
    ["larger than any certificate chain", () => Promise.resolve("A".repeat(200_000)), "failed after 1 attempt (an answer over 65536 bytes, not a certificate chain)"],
    // Shown printable only: its own newlines and escapes had made lines of the log (probe 56 #6).
    ["text with a newline and terminal escapes", () => Promise.resolve("oops\n\u001b[31mERROR: planted\u001b[0m"), "is not a PEM certificate (it starts with: oops ?[31mERROR: planted?[0m)"]
  ])("an answer that is %s is refused: reported, exit 1, nothing installed or left", async (_, answer, problem) => {
    h.signer.answers = [{ status: 200, body: await answer() }]
    const { env } = await h.vastEnv({ NULL_WORKER_DIR: root })
    const report = await h.launchFailure(h.start(h.detachedScript, env))
    expect(report["error_msg"]).toContain(`${shownUrl(env["SIGN_CERT_URL"])} ${problem}`)
    expect(readdirSync(env["WORKSPACE_DIR"] ?? "").filter((name) => name.startsWith("instance."))).toEqual([])
    // The version the worker's own reports carry (newcomer 35 #10: "0" looked like another program).
    expect(report["version"]).toBe(PROTOCOL_VERSION)
    expect(existsSync(env["TLS_CERT_FILE"] ?? "")).toBe(false)
  })

  it("an answer sent without its size is not saved past the bound: the transfer stops there, whatever curl's version (review 62 #4)", async () => {
    h.signer.answers = ["endless"]
    const { env } = await h.vastEnv({ NULL_WORKER_DIR: root, SIGN_CERT_TIMEOUT: "20" })
    const report = await h.launchFailure(h.start(h.detachedScript, env))
    expect(report["error_msg"]).toContain(`${shownUrl(env["SIGN_CERT_URL"])} failed after 1 attempt (an answer over 65536 bytes, not a certificate chain)`)
    // Read on to the time-out, curl 7.88 had saved all 64 MiB the signer sends; stopped, it took what the sockets hold.
    expect(h.signer.endlessSent).toBeLessThan(16 * 1024 * 1024)
    expect(readdirSync(env["WORKSPACE_DIR"] ?? "").filter((name) => name.startsWith("instance."))).toEqual([])
  })

  describe("any message is sent as valid JSON and arrives exactly as written", () => {
    it("built with Node.js (a NULL_WORKER_DIR full of quotes, backslashes and newlines)", async () => {
      const odd = join(h.dir, nasty)
      const { env } = await h.vastEnv({ NULL_WORKER_DIR: odd, USE_SSL: "false" })
      const report = await h.launchFailure(h.start(h.detachedScript, env))
      expect(report["error_msg"]).toBe(`NULL_WORKER_DIR has no dist/main.js (build it with npm ci): ${odd}`)
      expect(report["url"]).toBe(`http://127.0.0.1:${env["WORKER_PORT"]}`)
    })

    it("built in bash when Node.js is missing (NODE_BIN full of the same characters)", async () => {
      const nodeBin = join(h.dir, nasty, "node")
      const { env } = await h.vastEnv({ NODE_BIN: nodeBin })
      const report = await h.launchFailure(h.start(h.detachedScript, env))
      expect(report).toEqual({
        id: 31337,
        mtoken: "tok",
        version: PROTOCOL_VERSION,
        error_msg: `Node.js >= 20 is required, but ${nodeBin} was not found (PATH=${process.env["PATH"] ?? "/usr/bin:/bin"})`,
        url: `https://127.0.0.1:${env["WORKER_PORT"]}`
      })
    })

    it("a NULL_WORKER_REPO given as a path relative to where the script starts is cloned from there", async () => {
      mkdirSync(join(h.dir, "not-a-repository"), { recursive: true })
      const { env } = await h.vastEnv({ NULL_WORKER_REPO: "not-a-repository", USE_SSL: "false" })
      const report = await h.launchFailure(h.start(h.detachedScript, env, { cwd: h.dir }))
      expect(String(report["error_msg"]).startsWith(`git clone of ${join(h.dir, "not-a-repository")} failed (status 128): `)).toBe(true)
    })

    it("a NULL_WORKER_REPO with a token in it that cannot be cloned: reported and logged without the token", async () => {
      const { env } = await h.vastEnv({ NULL_WORKER_REPO: "http://deploy:TOKEN@127.0.0.1:9/null-worker.git?ref=TOKEN2", USE_SSL: "false" })
      const run = h.start(h.detachedScript, env)
      const report = await h.launchFailure(run)
      expect(String(report["error_msg"])).toMatch(/^git clone of http:\/\/127\.0\.0\.1:9\/null-worker\.git\?… failed \(status 128\): /)
      const log = readFileSync(join(env["WORKSPACE_DIR"] ?? "", "null-worker.log"), "utf8")
      for (const text of [String(report["error_msg"]), run.output(), log]) expect(text).not.toMatch(/TOKEN|deploy:/)
    })

    it("a NULL_WORKER_REPO that cannot be cloned", async () => {
      const repo = join(h.dir, nasty)
      const { env } = await h.vastEnv({ NULL_WORKER_REPO: repo, USE_SSL: "false" })
      const report = await h.launchFailure(h.start(h.detachedScript, env))
      expect(String(report["error_msg"]).startsWith(`git clone of ${repo} failed (status 128): `)).toBe(true)
    })
  })

  it("run by a relative path from its checkout (`bash scripts/start-vast.sh`), it still finds that checkout after moving to WORKSPACE_DIR; spaces around its numbers are ignored, as the worker ignores them", async () => {
    const { env, workerPort } = await h.vastEnv({ USE_SSL: "false", DRAIN_TIMEOUT: "0" })
    // Leading zeros too: `0<port>` is the port, whose address is in VAST_TCP_PORT_<port>.
    const run = h.start(join("scripts", "start-vast.sh"), { ...env, WORKER_PORT: ` 0${workerPort} `, CONTAINER_ID: " 31337", REPORT_TIMEOUT: "5 " }, { cwd: root })
    const ready = await h.recorder.waitFor(isReady)
    expect([ready.json?.["error_msg"], ready.json?.["id"], ready.json?.["url"]]).toEqual(["", 31337, `http://127.0.0.1:${workerPort}`])
    expect(readFileSync(join(env["WORKSPACE_DIR"] ?? "", "null-worker.log"), "utf8")).toContain(`null-worker: ${root}`)
    run.child.kill("SIGTERM")
    expect(await run.exited, run.output()).toBe(0)
  })

  it("relative WORKSPACE_DIR, NULL_WORKER_DIR, LOG_FILE and NODE_BIN are the caller's: resolved against the directory it was started in, not WORKSPACE_DIR", async () => {
    const { env, workerPort } = await h.vastEnv({ USE_SSL: "false", DRAIN_TIMEOUT: "0" })
    mkdirSync(join(h.dir, "bin"), { recursive: true })
    if (!existsSync(join(h.dir, "bin", "node"))) symlinkSync(process.execPath, join(h.dir, "bin", "node"))
    const relative = { WORKSPACE_DIR: "ws", NULL_WORKER_DIR: relativePath(h.dir, root), LOG_FILE: "start.log", NODE_BIN: "bin/node" }
    const run = h.start(h.detachedScript, { ...env, ...relative }, { cwd: h.dir })
    const ready = await h.recorder.waitFor(isReady)
    expect(ready.json?.["url"]).toBe(`http://127.0.0.1:${workerPort}`)
    expect(readFileSync(join(h.dir, "start.log"), "utf8")).toContain(`null-worker: ${root}`)
    expect(readFileSync(join(h.dir, "start.log"), "utf8")).toContain(`Node.js ${process.versions.node} at ${join(h.dir, "bin", "node")}`)
    run.child.kill("SIGTERM")
    expect(await run.exited, run.output()).toBe(0)
    expect(existsSync(join(h.dir, "ws", "null-worker.exit")), "the exit marker in the workspace").toBe(true)
    expect(existsSync(join(h.dir, "ws", "start.log")), "no log inside the workspace").toBe(false)
  })

  it("a Node.js older than 20 is refused and reported", async () => {
    const oldNode = join(h.dir, "old-node")
    writeFileSync(oldNode, "#!/bin/sh\necho 18.19.0\n")
    chmodSync(oldNode, 0o755)
    const { env } = await h.vastEnv({ NODE_BIN: oldNode })
    const report = await h.launchFailure(h.start(h.detachedScript, env))
    expect(report["error_msg"]).toBe(`Node.js >= 20 is required, but ${oldNode} is version 18.19.0`)
  })

  it("--help prints what it does and its settings, exit 0; any other argument is refused (exit 1, on the console) before anything starts", () => {
    const help = spawnSync("bash", [scriptInCheckout, "--help"], { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" } })
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/^start-vast\.sh: the on-start script/)
    for (const name of ["CONSUMER_CMD", "NULL_EXIT_FILE", "SIGN_CERT_URL"]) expect(help.stdout).toContain(name)
    expect(help.stdout).not.toContain("set -E")
    // Run by `sh` (dash here), it hands itself to bash and says the same.
    const bySh = spawnSync("sh", [scriptInCheckout, "--help"], { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" } })
    expect([bySh.status, bySh.stdout, bySh.stderr]).toEqual([0, help.stdout, ""])
    const typo = spawnSync("bash", [scriptInCheckout, "--hepl"], { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", CONTAINER_ID: "1" } })
    expect([typo.status, typo.stdout, typo.stderr]).toEqual([1, "", "start-vast.sh takes no arguments (its settings are environment variables); --help lists them\n"])
  })

  it("shellcheck finds nothing in the script", (context) => {
    const installed = spawnSync("shellcheck", ["--version"]).status === 0
    if (!installed) {
      if (process.env["CI"] !== undefined) throw new Error("shellcheck is not installed: CI must install it (apt-get install -y shellcheck)")
      context.skip("shellcheck is not installed (apt-get install -y shellcheck); skipped outside CI")
    }
    const result = spawnSync("shellcheck", ["--shell=bash", "--severity=style", scriptInCheckout], { encoding: "utf8" })
    expect(result.stdout + result.stderr).toBe("")
    expect(result.status).toBe(0)
  })
})
