import { Effect, Exit, Schema, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { freePort } from "../support/process.js"
import { type RunningServerless, startServerless, until } from "../support/serverless.js"
import { startWorker } from "../support/worker.js"
import { type SpawnedClient, spawnClient } from "./spawnClient.js"

const planes: Array<RunningServerless> = []
const clients: Array<SpawnedClient> = []
const scopes: Array<Scope.CloseableScope> = []

afterEach(async () => {
  for (const client of clients.splice(0)) {
    if (client.child.exitCode === null && client.child.signalCode === null) client.child.kill("SIGKILL")
    await client.exited
  }
  for (const plane of planes.splice(0)) await plane.stop()
  for (const scope of scopes.splice(0)) await Effect.runPromise(Scope.close(scope, Exit.void))
})

const serverless = async (args: ReadonlyArray<string>) => {
  const started = await startServerless(args)
  planes.push(started)
  return started
}

/** `node dist/client.js ...args` against the serverless at `url`, with the user key it accepts. */
const client = (url: string, args: ReadonlyArray<string>) => {
  const spawned = spawnClient([...args, "--endpoint", "null-local", "--autoscaler-url", url, "--webserver-url", url], {
    VAST_API_KEY: "k"
  })
  clients.push(spawned)
  return spawned
}

/** The doctor's `--json` report. */
const DoctorJson = Schema.parseJson(
  Schema.Struct({
    ok: Schema.Boolean,
    worker: Schema.Null,
    endpoint: Schema.Struct({ name: Schema.String, settings: Schema.Record({ key: Schema.String, value: Schema.NullOr(Schema.Number) }) }),
    findings: Schema.Array(Schema.Struct({ setting: Schema.String, value: Schema.NullOr(Schema.Number), risk: Schema.String, fix: Schema.String }))
  })
)

describe("null-worker-client doctor against the local serverless", () => {
  it("Vast's default settings: each risky one is reported with its risk and fix, and the exit status is 1", async () => {
    const { url } = await serverless([])
    const doctor = spawnClient(["doctor", "--json", "--endpoint", "null-local", "--webserver-url", url], { VAST_API_KEY: "k" })
    clients.push(doctor)
    expect(await doctor.exited, doctor.stderr()).toBe(1)
    // One JSON object (not the client's events): decoded as the report.
    const parsed = Schema.decodeUnknownSync(DoctorJson)(doctor.stdout())
    expect(parsed).toMatchObject({
      ok: false,
      endpoint: { name: "null-local", settings: { target_util: 0.9, cold_workers: 5, inactivity_timeout: -1, max_queue_time: 30, target_queue_time: 10 } }
    })
    const findings = parsed.findings
    expect(findings.map((f) => [f.setting, f.value])).toEqual([
      ["target_util", 0.9],
      ["cold_workers", 5],
      ["inactivity_timeout", -1],
      ["max_queue_time", 30],
      ["target_queue_time", 10]
    ])
    expect(findings[0]?.risk).toContain("100 / 0.9 = 111.1")
    expect(findings.map((f) => f.fix)).toContain("set max_queue_time to 0")
  })

  it("the recommended settings: nothing risky, a worker that answers, exit status 0; too few workers for --sessions: 1", async () => {
    const { url } = await serverless(["--recommended", "--inactivity-timeout", "300", "--max-workers", "3"])
    const scope = Effect.runSync(Scope.make())
    scopes.push(scope)
    const worker = await Effect.runPromise(Scope.extend(startWorker(), scope))
    const healthy = spawnClient(["doctor", "--endpoint", "null-local", "--webserver-url", url, "--worker", worker.publicUrl], {
      VAST_API_KEY: "k"
    })
    clients.push(healthy)
    expect(await healthy.exited, healthy.stdout()).toBe(0)
    expect(healthy.stdout()).toContain("endpoint null-local (id 1, active): no risky setting")
    expect(healthy.stdout()).toContain(`worker ${worker.publicUrl}: answers`)
    expect(healthy.stdout()).toContain("doctor: OK")

    const closedPort = await freePort()
    const crowded = spawnClient(
      ["doctor", "--endpoint", "null-local", "--webserver-url", url, "--sessions", "4", "--worker", `http://127.0.0.1:${closedPort}`],
      { VAST_API_KEY: "k" }
    )
    clients.push(crowded)
    expect(await crowded.exited).toBe(1)
    expect(crowded.stdout()).toContain("max_workers = 3")
    expect(crowded.stdout()).toContain("fix:  raise max_workers to at least 4")
    expect(crowded.stdout()).toMatch(/worker http:\/\/127\.0\.0\.1:\d+: no answer: .*ECONNREFUSED/)
  })
})

describe("Ctrl-C in the client, against the local serverless", () => {
  it("while waiting for a worker: exit 130, one 'interrupted' line, the table once, and the serverless drops the request at once", async () => {
    // No room for a worker: the reservation can only wait, as the serverless says at its start.
    const plane = await serverless(["--max-workers", "0"])
    await plane.process.waitFor(/level=WARN message="endpoint null-local: max_workers is 0, so no worker will start/, 5_000)
    const waiting = client(plane.url, ["--hold", "600"])
    // Its connection is watched once it has carried a second poll (the client polls about once a second).
    await until("the client to poll twice", async () => ((await plane.status()).waiting[0]?.polls ?? 0) >= 2 ? true : undefined, 15_000)
    expect((await plane.status()).waiting).toHaveLength(1)
    waiting.child.kill("SIGINT")
    expect(await waiting.exited, waiting.stderr()).toBe(130)
    const out = waiting.stdout()
    expect(out.match(/interrupted/g)).toHaveLength(2) // the line, and the summary "done (interrupted)"
    expect(out).toContain("interrupted: no new reservations; ending any open sessions before exiting")
    expect(out.match(/^#\s+STATE\s+SESSION/gm)).toHaveLength(1)
    expect(out).toMatch(/^1\s+cancelled\s/m)
    // Well before the 7 s after which an unpolled request is forgotten anyway.
    const after = await until("the request to be dropped", async () => {
      const status = await plane.status()
      return status.waiting.length === 0 ? status : undefined
    }, 3_000)
    expect(after.events.map((e) => e.text)).toContainEqual(expect.stringMatching(/^request \d+ dropped: its client closed the connection$/))
    expect(after.workers).toEqual([])
  })

  it("while holding a session: it ends the session, prints the final table once, exits 130; SIGTERM exits 143", async () => {
    const plane = await serverless(["--recommended", "--inactivity-timeout", "30"])
    const holding = client(plane.url, ["--hold", "600", "--on-close-route", `${plane.url}/callbacks/ctrl-c`])
    await until("the session", async () => (holding.stdout().includes("created session") ? true : undefined), 20_000)
    holding.child.kill("SIGINT")
    expect(await holding.exited, holding.stderr()).toBe(130)
    const out = holding.stdout()
    expect(out).toMatch(/ended session \w+/)
    expect(out).toMatch(/done \(interrupted\): 1 created, 1 ended, 0 closed by the worker, 0 failure\(s\)/)
    expect(out.match(/^#\s+STATE\s+SESSION/gm)).toHaveLength(1)
    expect(out).toMatch(/^1\s+ended\s/m)
    // The worker closed the session as ended: its callback reached the serverless' sink.
    await until("the callback", async () => ((await plane.status()).callbacks.length === 1 ? true : undefined), 10_000)

    const terminated = client(plane.url, ["--hold", "600", "--json"])
    await terminated.waitForEvents("created", 1, 20_000)
    terminated.child.kill("SIGTERM")
    expect(await terminated.exited).toBe(143)
    expect(terminated.events().filter((event) => event.event === "ended")).toHaveLength(1)
  })

  it("a held session lost with its worker (the serverless stopped it) is counted apart in the summary; the status is 0, as for a session its consumer released and its worker scaled down (newcomer 36 #8)", async () => {
    const plane = await serverless(["--recommended", "--inactivity-timeout", "30"])
    // Short-lived, so that it pings every second: a ping is refused soon after the worker has gone.
    const holding = client(plane.url, ["--hold", "600", "--lifetime", "2"])
    await until("the session", async () => (holding.stdout().includes("created session") ? true : undefined), 20_000)
    await plane.stop()
    planes.splice(planes.indexOf(plane), 1)
    expect(await holding.exited, holding.stderr()).toBe(0)
    expect(holding.stdout()).toMatch(/done: 1 created, 0 ended, 0 closed by the worker, 1 found with their worker gone, 0 failure\(s\)/)
  })

  it("while holding a session, its reader gone (| head): it ends the session as on Ctrl-C, says so on stderr, exits 141", async () => {
    const plane = await serverless(["--recommended", "--inactivity-timeout", "30"])
    // Short-lived, so that it pings (and writes a line) every second: that write finds the pipe closed.
    const holding = client(plane.url, ["--hold", "600", "--lifetime", "2", "--on-close-route", `${plane.url}/callbacks/head`])
    await until("the session", async () => (holding.stdout().includes("created session") ? true : undefined), 20_000)
    holding.child.stdout?.destroy()
    expect(await holding.exited, holding.stderr()).toBe(141)
    expect(holding.stderr()).toContain("null-worker-client: its output was closed; everything it started has stopped\n")
    expect(holding.stderr()).not.toContain("EPIPE")
    // Ended, not left to expire: its callback says so.
    await until("the callback", async () => ((await plane.status()).callbacks.length === 1 ? true : undefined), 10_000)
    expect((await plane.status()).callbacks[0]?.body).toMatchObject({ close_reason: "ended" })
  })
})
