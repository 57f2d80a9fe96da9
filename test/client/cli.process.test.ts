import { createServer, type ServerResponse } from "node:http"
import { Effect, Exit, Schema, Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import type { WorkerSettings } from "../../src/worker/config/WorkerConfig.js"
import { FakeAutoscaler } from "../support/fakeAutoscaler.js"
import { call, startWorker } from "../support/worker.js"
import { ENDPOINT_NAME, FakeControlPlane, USER_KEY } from "./fakeControlPlane.js"
import { type SpawnedClient, spawnClient } from "./spawnClient.js"
import { until } from "../support/serverless.js"

const Closes = Schema.Struct({
  recent_closes: Schema.Array(Schema.Struct({ session_id: Schema.String, reason: Schema.String }))
})

let signer: FakeAutoscaler
let scope: Scope.CloseableScope
let plane: FakeControlPlane | undefined
const clients: Array<SpawnedClient> = []

beforeEach(async () => {
  signer = await FakeAutoscaler.start()
  scope = Effect.runSync(Scope.make())
})

afterEach(async () => {
  for (const client of clients.splice(0)) {
    if (client.child.exitCode === null && client.child.signalCode === null) client.child.kill("SIGKILL")
    await client.exited
  }
  await plane?.close()
  plane = undefined
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await signer.close()
})

/** Workers in this process, checking the fake autoscaler's signatures. */
const workers = async (count: number, settings: Partial<WorkerSettings> = {}) => {
  const started = []
  for (let n = 0; n < count; n++) {
    const worker = await Effect.runPromise(
      Scope.extend(startWorker(settings, { pubkeyUrl: `${signer.url}/pubkey/` }), scope)
    )
    await Effect.runPromise(worker.verifier.ready)
    started.push(worker)
  }
  plane = await FakeControlPlane.start(signer, started.map((worker) => worker.publicUrl))
  return started
}

const closesOf = async (controlUrl: string) =>
  Schema.decodeUnknownSync(Closes)((await Effect.runPromise(call(controlUrl, "/debug", { method: "GET" }))).json).recent_closes

const run = (args: ReadonlyArray<string>, env: Record<string, string> = { VAST_API_KEY: USER_KEY }) => {
  const urls = plane === undefined ? [] : ["--autoscaler-url", plane.url, "--webserver-url", plane.url]
  const client = spawnClient(["--endpoint", ENDPOINT_NAME, "--json", ...urls, ...args], env)
  clients.push(client)
  return client
}

describe("node dist/client.js", () => {
  it("--demo creates every session, re-routes past a full worker, ends each with a 200, and exits 0", async () => {
    const [first, second] = await workers(2)
    const client = run(["--demo", "--count", "2", "--interval", "0.3", "--plateau", "0.5", "--lifetime", "5"])
    expect(await client.exited, client.stderr()).toBe(0)
    const events = client.events()
    const named = (name: string) => events.filter((event) => event.event === name)
    const created = named("created")
    expect(created.map((event) => event["url"])).toEqual([first?.publicUrl, second?.publicUrl])
    expect(named("ended").map((event) => event["session_id"]).sort()).toEqual(created.map((event) => event["session_id"]).sort())
    // The second reservation was first routed to the full worker: 429, then the same request_idx again.
    const refused = named("refused")
    expect(refused.map((event) => [event["status"], event["request_idx"]])).toEqual([[429, created[1]?.["request_idx"]]])
    const routes = plane?.routes() ?? []
    expect(routes.map((route) => route.request_idx)).toEqual([0, 0, created[1]?.["request_idx"]])
    expect(named("done")).toMatchObject([{ created: 2, ended: 2, closed: 0, failures: 0 }])
    expect(named("error")).toEqual([])
    for (const [worker, event] of [[first, created[0]], [second, created[1]]] as const) {
      expect(await closesOf(worker?.controlUrl ?? "")).toContainEqual(
        expect.objectContaining({ session_id: event?.["session_id"], reason: "ended" })
      )
    }
  })

  it.each([
    ["Ctrl-C (SIGINT)", "SIGINT", 130],
    ["a closed terminal (SIGHUP)", "SIGHUP", 129],
    ["SIGUSR2, which the worker takes as a stop too", "SIGUSR2", 140]
  ] as const)("%s in single mode ends the session on the worker, says it was interrupted, then exits 128 + the signal", async (_, signal, status) => {
    const [worker] = await workers(1)
    const client = run(["--hold", "600", "--lifetime", "60"])
    const [created] = await client.waitForEvents("created")
    client.child.kill(signal)
    expect(await client.exited, client.stderr()).toBe(status)
    expect(client.events().filter((event) => event.event === "interrupted")).toHaveLength(1)
    expect(client.events().filter((event) => event.event === "done")).toMatchObject([{ ended: 1, failures: 0, interrupted: true }])
    const sessionId = created?.["session_id"]
    expect(client.events().filter((event) => event.event === "ended").map((event) => event["session_id"])).toEqual([sessionId])
    expect(await closesOf(worker?.controlUrl ?? "")).toContainEqual(expect.objectContaining({ session_id: sessionId, reason: "ended" }))
  })

  it("a second signal of the other kind (Ctrl-C, then SIGTERM while the end hangs) quits at once, as a repeated one does, naming the session it leaves open", async () => {
    // A worker that takes the session and never answers /session/end.
    const hung: Array<ServerResponse> = []
    const worker = createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        if (req.url?.startsWith("/session/end")) return void hung.push(res)
        const body = req.url?.startsWith("/session/create")
          ? { session_id: "s-hung", expiration: Date.now() / 1000 + 60 }
          : req.url?.startsWith("/session/health")
            ? { ok: true }
            : { result: { ok: true } }
        res.writeHead(req.url?.startsWith("/session/create") ? 201 : 200, { "content-type": "application/json" }).end(JSON.stringify(body))
      })
    })
    await new Promise<void>((resolve) => worker.listen(0, "127.0.0.1", resolve))
    const address = worker.address()
    try {
      plane = await FakeControlPlane.start(signer, [`http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`])
      const client = run(["--hold", "600", "--lifetime", "60"])
      await client.waitForEvents("created")
      client.child.kill("SIGINT")
      await client.waitForEvents("ending")
      const sent = performance.now()
      client.child.kill("SIGTERM")
      await client.exited
      expect(client.child.signalCode).toBe("SIGTERM")
      expect(performance.now() - sent).toBeLessThan(5_000)
      // What the quit leaves holding a worker is said: the last JSON line, and a line on stderr.
      const workerUrl = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
      expect(client.events().at(-1)).toMatchObject({ event: "quit", signal: "SIGTERM", left_open: [{ reservation: 1, session_id: "s-hung", url: workerUrl }], reserving: [] })
      expect(client.stderr()).toMatch(new RegExp(`quit at once by a second SIGTERM, before ending 1 session; each holds its worker until it expires or is ended: s-hung on ${workerUrl} \\(expires \\d{4}-`))
    } finally {
      for (const res of hung) res.destroy()
      await new Promise<void>((resolve) => worker.close(() => resolve()))
    }
  })

  it("SIGQUIT (Ctrl-\\) quits at once, naming the session it leaves open, as a second signal does (probe 51 F6)", async () => {
    const [worker] = await workers(1)
    const client = run(["--hold", "600", "--lifetime", "60"])
    await client.waitForEvents("created")
    client.child.kill("SIGQUIT")
    await client.exited
    expect(client.child.signalCode).toBe("SIGQUIT")
    expect(client.events().at(-1)).toMatchObject({ event: "quit", signal: "SIGQUIT", left_open: [{ reservation: 1, url: worker?.publicUrl }] })
    expect(client.stderr()).toMatch(/quit at once by SIGQUIT, before ending 1 session; each holds its worker until it expires or is ended: /)
  })

  it("SIGTERM during a demo plateau ends every open session, then exits 143", async () => {
    const [worker] = await workers(1, { maxSessions: 2 })
    const client = run(["--demo", "--count", "2", "--interval", "0.1", "--plateau", "600", "--lifetime", "60"])
    const created = await client.waitForEvents("created", 2)
    await client.waitForEvents("holding")
    client.child.kill("SIGTERM")
    expect(await client.exited, client.stderr()).toBe(143)
    const ids = created.map((event) => event["session_id"])
    const closes = await closesOf(worker?.controlUrl ?? "")
    for (const id of ids) expect(closes).toContainEqual(expect.objectContaining({ session_id: id, reason: "ended" }))
    expect(client.events().filter((event) => event.event === "shutdown")).toMatchObject([{ open: 2 }])
  })

  it("fails with a clear message without VAST_API_KEY, and exits 1 when the endpoint does not exist", async () => {
    await workers(0)
    const noKey = run([], {})
    expect(await noKey.exited).toBe(1)
    expect(noKey.stderr()).toContain("VAST_API_KEY is not set")
    const unknown = spawnClient(
      ["--endpoint", "nope", "--json", "--autoscaler-url", plane?.url ?? "", "--webserver-url", plane?.url ?? ""],
      { VAST_API_KEY: USER_KEY }
    )
    clients.push(unknown)
    expect(await unknown.exited).toBe(1)
    expect(unknown.events().filter((event) => event.event === "error")).toMatchObject([
      { operation: "endpoint lookup", message: 'endpoint "nope" could not be found among your endpoints (yours: "my-null-endpoint-other", "my-null-endpoint")', fatal: true }
    ])
  })

  it("a --lifetime under 2 s is taken, with a warning at start that it may expire between the pings (newcomer 38 #2)", async () => {
    await workers(0)
    const unknown = spawnClient(
      ["--endpoint", "nope", "--lifetime", "1", "--hold", "8", "--autoscaler-url", plane?.url ?? "", "--webserver-url", plane?.url ?? ""],
      { VAST_API_KEY: USER_KEY }
    )
    clients.push(unknown)
    expect(await unknown.exited).toBe(1)
    expect(unknown.stderr().split("\n")[0]).toBe(
      "warning: --lifetime 1 is under 2 s: the client pings at most once a second, so a session may expire between pings, before the 8 s it would be held"
    )
  })

  it("VAST_API_KEY=local with no URL of this machine is warned of at start, by the client and by its doctor (newcomer 39 #4)", async () => {
    // An address that is not this machine's, reached or not: the warning comes first either way.
    const away = ["--autoscaler-url", "http://192.0.2.1:9", "--webserver-url", "http://192.0.2.1:9"]
    // Each told what it takes: the doctor reads the webserver only (newcomer 40 #8).
    for (const [args, fix] of [
      [["--endpoint", "nope", ...away], "add --instance local (or give --autoscaler-url and --webserver-url)"],
      [["doctor", "--endpoint", "nope", ...away], "add --instance local (or give --webserver-url)"]
    ] as const) {
      const client = spawnClient(args, { VAST_API_KEY: "local" })
      clients.push(client)
      await until("the warning", () => (client.stderr().includes("\n") ? true : undefined), 15_000)
      client.child.kill("SIGTERM")
      await client.exited
      expect(client.stderr().split("\n")[0]).toBe(
        `warning: VAST_API_KEY is "local", the local serverless's key, but the run goes to http://192.0.2.1:9: for the local serverless ${fix}`
      )
    }
  })

  it("a VAST_API_KEY read with its line's CR still works; one holding a character no header can carry is said as such, not as a server that did not answer (probe 37 I1)", async () => {
    await workers(0)
    const lookup = (key: string) => {
      const client = spawnClient(["--endpoint", "nope", "--json", "--autoscaler-url", plane?.url ?? "", "--webserver-url", plane?.url ?? ""], { VAST_API_KEY: key })
      clients.push(client)
      return client
    }
    const crlf = lookup(`${USER_KEY}\r\n`)
    expect(await crlf.exited).toBe(1)
    expect(crlf.events().filter((event) => event.event === "error")).toMatchObject([{ operation: "endpoint lookup", message: expect.stringContaining('endpoint "nope" could not be found') }])
    for (const key of [`${USER_KEY}\u00e9`, `${USER_KEY}\u2028x`, `a\u0001b`, `${USER_KEY} ${USER_KEY}`]) {
      const unusable = lookup(key)
      expect(await unusable.exited).toBe(1)
      expect(unusable.stderr()).toBe(
        "VAST_API_KEY holds a character a key does not (a space inside it, a control character, or one outside ASCII): set it to the key alone, as console.vast.ai shows it\n"
      )
    }
  })
})
