/**
 * `node dist/client.js autoscale` as a process: its option errors, and, against a real redis-server and
 * the local serverless, a restart after SIGKILL that re-adopts the session it held, and a clean SIGTERM.
 */
import { fileURLToPath } from "node:url"
import { Schema } from "effect"
import { Redis } from "ioredis"
import { afterEach, describe, expect, it } from "vitest"
import { tracked } from "../../support/cleanup.js"
import { spawnProcess } from "../../support/process.js"
import { skipWithoutRedis, startRedis } from "../../support/redisServer.js"
import { startServerless } from "../../support/serverless.js"

const clientJs = fileURLToPath(new URL("../../../dist/client.js", import.meta.url))
const { cleanup, processes } = tracked()
const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  await cleanup()
  for (const stop of stops.splice(0).reverse()) await stop()
})

const Event = Schema.parseJson(Schema.Struct({ event: Schema.String, session_id: Schema.optional(Schema.String), held: Schema.optional(Schema.Number) }))
const decodeEvent = Schema.decodeUnknownOption(Event)
const events = (output: string) =>
  output
    .split("\n")
    .flatMap((line) => {
      const event = decodeEvent(line)
      return event._tag === "Some" ? [event.value] : []
    })

const daemon = (args: ReadonlyArray<string>, env: Record<string, string> = { VAST_API_KEY: "k" }) => {
  const spawned = spawnProcess(process.execPath, [clientJs, "autoscale", ...args], env)
  processes.push(spawned)
  return spawned
}

describe("node dist/client.js autoscale (process)", () => {
  it("--help lists the daemon's flags with their defaults; the client's help names the command", async () => {
    const help = daemon(["--help"])
    expect(await help.exited).toBe(0)
    expect(help.output()).toMatch(/^ {2}--jobs-per-worker N +.* \(default 1\)$/m)
    expect(help.output()).toMatch(/^ {2}--cooldown SECONDS +.* \(default 120\)$/m)
    expect(help.output()).not.toContain("--hold")
    const clientHelp = spawnProcess(process.execPath, [clientJs, "--help"], {})
    processes.push(clientHelp)
    expect(await clientHelp.exited).toBe(0)
    expect(clientHelp.output()).toContain("null-worker-client autoscale --endpoint NAME --stream KEY")
  })

  it("a bad command line is one line on stderr and exit 1", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [["--endpoint", "e"], /exactly one of --stream KEY and --list KEY/],
      [["--endpoint", "e", "--stream", "s", "--list", "l"], /exactly one of --stream KEY and --list KEY/],
      [["--endpoint", "e", "--list", "l", "--min", "3", "--max", "2"], /--min: must not be above --max/],
      [["--endpoint", "e", "--list", "l", "--interval", "2", "--lease", "3"], /--lease: must be at least twice --interval/],
      [["--endpoint", "e", "--list", "l", "--interval", "1e-9"], /^--interval must be a finite number of at least 0\.1; seconds, or with a unit \(250ms, 90s, 10m\)$/m],
      [["--endpoint", "e", "--stream", "s", "--in-flight-list", "b"], /--in-flight-list: goes with --list/],
      [["--endpoint", "e", "--list", "l", "--group", "g"], /--group: goes with --stream/],
      [["--endpoint", "e", "--list", "l", "--redis-url", "http://x"], /--redis-url: must be a redis:\/\/, rediss:\/\/ or unix:\/\/ URL \(or host:port\), not another scheme/],
      // Numbers JSON cannot carry, or a worker would refuse, are refused before anything starts.
      [["--endpoint", "e", "--list", "l", "--lifetime", "Infinity"], /--lifetime must be a number above 0 and at most 604800 \(the worker.s limit\); seconds, or with a unit/],
      [["--endpoint", "e", "--list", "l", "--lifetime", "1e7"], /--lifetime must be a number above 0 and at most 604800 \(the worker.s limit\); seconds, or with a unit/],
      [["--endpoint", "e", "--list", "l", "--session-cost", "1e300"], /--session-cost must be a number above 0 and at most 1000000/],
      [["--endpoint", "e", "--list", "l", "--cooldown", "Infinity"], /--cooldown must be a finite number, 0 or more/],
      [["--endpoint", "e", "--list", "l", "--ping-interval", "1e400"], /--ping-interval must be a finite number above 0/]
    ]
    const runs = [...cases.map(([args, message]) => [daemon(args), message] as const), [daemon(["--endpoint", "e", "--list", "l"], {}), /VAST_API_KEY is not set/] as const]
    for (const [run, message] of runs) {
      expect(await run.exited, run.output()).toBe(1)
      expect(run.output()).toMatch(message)
    }
  })

  it.skipIf(skipWithoutRedis("the daemon process test"))(
    "--json with an endpoint that does not exist: its reason is a fatal error event in the stream, before the stop's own, and nothing on stderr; exit 1",
    { timeout: 60_000 },
    async () => {
      const redis = await startRedis()
      stops.push(() => redis.stop())
      const serverless = await startServerless(["--recommended"])
      stops.push(() => serverless.stop())
      const run = daemon(["--autoscaler-url", serverless.url, "--webserver-url", serverless.url, "--endpoint", "nosuch", "--redis-url", redis.url, "--list", "queue", "--json"])
      expect(await run.exited, run.output()).toBe(1)
      const lines = run.output().trimEnd().split("\n")
      const seen = lines.map((line) => JSON.parse(line) as { event: string; operation?: string; message?: string; fatal?: boolean })
      expect(seen.map((event) => event.event)).toEqual(["started", "error", "stopping", "stopped"])
      expect(seen[1]).toMatchObject({ operation: "endpoint lookup", message: 'endpoint "nosuch" could not be found among your endpoints (yours: "null-local")', fatal: true })
    }
  )

  it.skipIf(skipWithoutRedis("the daemon process test"))(
    "killed with SIGKILL, a restarted daemon re-adopts the session it held and starts no other; SIGTERM stops it with exit 0, the session still recorded",
    { timeout: 60_000 },
    async () => {
      const redis = await startRedis()
      stops.push(() => redis.stop())
      const client = new Redis(redis.url, { maxRetriesPerRequest: null })
      client.on("error", () => undefined)
      stops.push(async () => void client.disconnect())
      const serverless = await startServerless(["--recommended", "--inactivity-timeout", "30", "--max-workers", "3"])
      stops.push(() => serverless.stop())
      const args = [
        "--autoscaler-url", serverless.url, "--webserver-url", serverless.url, "--endpoint", "null-local", "--redis-url", redis.url,
        "--list", "queue", "--interval", "0.2", "--lease", "1", "--lifetime", "20", "--ping-interval", "0.5", "--cooldown", "0", "--json"
      ]
      await client.rpush("queue", "job")
      const first = daemon(args)
      await first.waitFor(/"event":"created"/, 30_000)
      const [created] = events(first.output()).filter((event) => event.event === "created")
      first.child.kill("SIGKILL")
      await first.exited

      const second = daemon(args)
      await second.waitFor(/"event":"adopted"/, 15_000)
      await second.waitFor(/"event":"pinged"/, 5_000)
      const seen = events(second.output())
      expect(seen.find((event) => event.event === "adopted")?.session_id).toBe(created?.session_id)
      expect(seen.some((event) => event.event === "reserving")).toBe(false)
      expect((await serverless.status()).workers.flatMap((worker) => worker.sessions ?? []).map((session) => session.session_id)).toEqual([
        created?.session_id
      ])

      second.child.kill("SIGTERM")
      expect(await second.exited, second.output()).toBe(0)
      expect(events(second.output()).find((event) => event.event === "stopped")?.held).toBe(1)
      expect(await client.hkeys("queue:autoscale:sessions")).toEqual([created?.session_id])
      expect(await client.exists("queue:autoscale:owner")).toBe(0)
    }
  )
})
