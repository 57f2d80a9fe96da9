import { type ChildProcess, execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createServer } from "node:http"
import { fileURLToPath } from "node:url"
import { Redis } from "ioredis"
import { afterEach, describe, expect, it } from "vitest"
import { CreateSessionAnswer } from "../../src/protocol/session.js"
import { SessionsAnswer } from "../../src/protocol/control.js"
import { FakeAutoscaler } from "../support/fakeAutoscaler.js"
import { childEnv, freePort, spawnProcess } from "../support/process.js"
import { authData, cleanup, decoded, request, startWorkerProcess } from "../support/workerProcess.js"

const dist = (file: string) => fileURLToPath(new URL(`../../dist/${file}`, import.meta.url))

const hasRedis = (() => {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()
if (!hasRedis && process.env["CI"] === undefined) {
  process.stdout.write("redis example tests skipped: redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)\n")
}

const children: Array<ChildProcess> = []
const dirs: Array<string> = []
afterEach(async () => {
  for (const child of children.splice(0).reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    child.kill("SIGTERM")
    await new Promise((resolve) => child.once("exit", resolve))
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const start = (command: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const spawned = spawnProcess(command, args, env)
  children.push(spawned.child)
  return spawned
}

const startRedis = async (port: number, dir: string) => {
  const redis = start("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--save", ""])
  await redis.waitFor(/Ready to accept connections/, 20_000)
  return redis
}

/** Redis, the serverless with the example consumer beside each worker, and the dispatcher. */
const setup = async (options: { jobs: number; workMs: number; maxWorkers?: number; dispatcherArgs?: ReadonlyArray<string>; verbose?: boolean }) => {
  const dir = mkdtempSync(join(tmpdir(), "null-worker-redis-test-"))
  dirs.push(dir)
  const redisPort = await freePort()
  const redisUrl = `redis://127.0.0.1:${redisPort}`
  let redis = await startRedis(redisPort, dir)
  const serverless = start(
    process.execPath,
    [
      dist("serverless.js"), "--port", "0", "--recommended", "--inactivity-timeout", "1", "--max-workers", String(options.maxWorkers ?? 3),
      "--healthcheck-interval", "0.2", "--tick", "0.1",
      "--sidecar", `${JSON.stringify(process.execPath)} ${JSON.stringify(dist("examples/redis-consumer.js"))}`, "--sidecar-health", "/health",
      // Every worker's and consumer's lines, prefixed with its name, for a test that waits on one.
      ...(options.verbose === true ? ["--verbose"] : [])
    ],
    { REDIS_URL: redisUrl, WORK_MS: String(options.workMs) }
  )
  const url = (await serverless.waitFor(/serverless listening on (http:\/\/[0-9.:]+)/, 20_000))[1] ?? ""
  const dispatcher = start(
    process.execPath,
    [dist("examples/redis-dispatcher.js"), "--jobs", String(options.jobs), "--autoscaler-url", url, "--webserver-url", url, "--redis-url", redisUrl, "--concurrency", "3", "--lifetime", "20", ...(options.dispatcherArgs ?? [])],
    { VAST_API_KEY: "local" }
  )
  const client = new Redis(redisUrl, { maxRetriesPerRequest: null })
  client.on("error", () => undefined)
  const restartRedis = async () => {
    redis.child.kill("SIGTERM")
    await redis.exited
    redis = await startRedis(redisPort, dir)
  }
  const status = async () => (await (await fetch(`${url}/status`)).json()) as { workers: Array<{ id: number; state: string; sidecar_pid: number | null }> }
  const summary = async () => {
    const code = await dispatcher.exited
    const line = /summary (\{.*\})/.exec(dispatcher.output())?.[1]
    return { code, summary: JSON.parse(line ?? "{}") as { done: number; callbacks: Record<string, number>; duplicate_callbacks: number; redispatched: number }, output: dispatcher.output() }
  }
  const scaledToZero = async () => {
    const deadline = Date.now() + 15_000
    while ((await status()).workers.length > 0) {
      if (Date.now() > deadline) throw new Error("did not scale to zero")
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  /** Every job done exactly once, each with one result. */
  const checkExactlyOnce = async (jobs: number) => {
    for (let i = 1; i <= jobs; i++) {
      expect(await client.get(`done:job-${i}`)).toBe("1")
      expect(await client.exists(`result:job-${i}`)).toBe(1)
    }
    expect((await client.keys("done:*")).length).toBe(jobs)
  }
  /** Another dispatcher run against the same serverless and Redis: its exit code and output. */
  const dispatchAgain = async (jobs: number) => {
    const again = start(
      process.execPath,
      [dist("examples/redis-dispatcher.js"), "--jobs", String(jobs), "--autoscaler-url", url, "--webserver-url", url, "--redis-url", redisUrl],
      { VAST_API_KEY: "local" }
    )
    return { code: await again.exited, output: again.output() }
  }
  return { client, serverless, dispatcher, status, summary, scaledToZero, checkExactlyOnce, restartRedis, dispatchAgain, close: () => client.disconnect() }
}

/**
 * The example consumer beside a stand-in for its worker's control server, which answers every look with `answer()`;
 * the caller closes `control` (the consumer is stopped with the test's other processes).
 */
const consumerBeside = async (redisUrl: string, answer: () => string) => {
  const control = createServer((_, response) => response.writeHead(200, { "content-type": "application/json" }).end(answer()))
  await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", () => resolve()))
  const address = control.address()
  const controlPort = typeof address === "object" && address !== null ? address.port : 0
  const healthPort = await freePort()
  const consumer = start(process.execPath, [dist("examples/redis-consumer.js")], {
    REDIS_URL: redisUrl,
    WORKER_CONTROL_URL: `http://127.0.0.1:${controlPort}`,
    SIDECAR_PORT: String(healthPort)
  })
  return { control, consumer, controlPort, healthPort }
}

describe.skipIf(!hasRedis && process.env["CI"] === undefined)("the Redis queue example (real redis-server)", { timeout: 120_000 }, () => {
  it("20 jobs through at most 3 workers: each done once, each session released, each callback once, back to zero", async () => {
    // The callback endpoint as a dispatcher on another machine sets it: its own port, and the URL workers use.
    const port = await freePort()
    const run = await setup({
      jobs: 20,
      workMs: 100,
      dispatcherArgs: ["--callback-host", "127.0.0.1", "--callback-port", String(port), "--callback-url", `http://localhost:${port}/`]
    })
    let peak = 0
    const watching = setInterval(() => {
      // Live workers: one being stopped while its replacement starts is not over the cap.
      void run.status().then((s) => (peak = Math.max(peak, s.workers.filter((w) => w.state !== "stopping").length)), () => undefined)
    }, 100)
    const { code, output, summary } = await run.summary()
    clearInterval(watching)
    expect(code, output).toBe(0)
    expect(summary).toEqual({ jobs: 20, done: 20, skipped: 0, callbacks: { released: 20 }, duplicate_callbacks: 0, redispatched: 0 })
    expect(output).toContain(`workers post to http://localhost:${port}/closed (listening on http://127.0.0.1:${port})`)
    // Where it listens is said once, in that line.
    expect(output.split(`http://127.0.0.1:${port}`)).toHaveLength(2)
    expect(peak).toBeLessThanOrEqual(3)
    await run.checkExactlyOnce(20)
    for (let i = 1; i <= 20; i++) expect(await run.client.llen(`processed:job-${i}`)).toBe(1)
    await run.scaledToZero()
    // Run again on the same Redis: the generated ids are the same, and each is found done, said as skipped.
    const again = await run.dispatchAgain(3)
    expect(again.code, again.output).toBe(0)
    expect(again.output).toContain("3 of 3 jobs done (3 of them before this run: skipped)")
    expect(again.output).toContain('summary {"jobs":3,"done":3,"skipped":3,"callbacks":{},"duplicate_callbacks":0,"redispatched":0}')
    run.close()
  })

  it("npm run example:redis (its runner, as a user runs it): every job done once, then the endpoint back to zero workers, exit 0", async () => {
    const run = start(process.execPath, [dist("examples/redis-example.js"), "--jobs", "4", "--work-ms", "50", "--max-workers", "2"], {
      ...childEnv()
    })
    expect(await run.exited, run.output()).toBe(0)
    const output = run.output()
    expect(output).toContain("all 4 jobs done exactly once; waiting for the endpoint to scale back to zero")
    // Said only once the serverless has said each worker it started stopped.
    const started = new Set(Array.from(output.matchAll(/serverless \| w(\d+) starting/g), (m) => m[1]))
    const stopped = new Set(Array.from(output.matchAll(/serverless \| w(\d+) stopped/g), (m) => m[1]))
    expect(started.size).toBeGreaterThan(0)
    expect(stopped).toEqual(started)
    expect(output.indexOf("scaled back to zero workers")).toBeGreaterThan(Math.max(...Array.from(output.matchAll(/w\d+ stopped/g), (m) => m.index)))
  })

  it("Ctrl-C (SIGINT) to the runner mid-run: everything it started stops, it says it was interrupted, exit 130", async () => {
    const run = start(process.execPath, [dist("examples/redis-example.js"), "--jobs", "40", "--work-ms", "300", "--max-workers", "2"], {
      ...childEnv()
    })
    await run.waitFor(/serverless \| w\d+ ready/, 30_000)
    run.child.kill("SIGINT")
    expect(await run.exited, run.output()).toBe(130)
    const output = run.output()
    expect(output.trimEnd().split("\n").at(-1)).toBe("redis example: interrupted; everything it started has stopped")
    // The dispatcher is stopped before the serverless it routes through: none of its calls found nothing listening.
    expect(output).not.toContain("nothing listens there")
    expect(output).not.toContain("ECONNREFUSED")
    // The serverless exits only once its workers have (its own tests hold that): its port is closed.
    const url = /local serverless on (http:\/\/[0-9.:]+)/.exec(output)?.[1] ?? ""
    expect(url).not.toBe("")
    await expect(fetch(`${url}/status`)).rejects.toThrow()
  })

  it("a consumer killed mid-job: the worker reports it, the session ends, the job is dispatched again and done once", async () => {
    const run = await setup({ jobs: 2, workMs: 1500, verbose: true })
    // A consumer says when it has taken its job (which lasts 1.5 s): that one is killed.
    const [, id] = await run.serverless.waitFor(/\[w(\d+)\/sidecar\] consumer: session \S+: working on job-/, 30_000)
    const victim = (await run.status()).workers.find((w) => w.id === Number(id))?.sidecar_pid ?? null
    expect(victim).not.toBeNull()
    // The sidecar leads its own process group (sh and the consumer under it).
    process.kill(-victim!, "SIGKILL")
    const { code, output, summary } = await run.summary()
    expect(code, output).toBe(0)
    expect(summary.done).toBe(2)
    expect(summary.redispatched).toBeGreaterThanOrEqual(1)
    expect(summary.duplicate_callbacks).toBe(0)
    expect((summary.callbacks["shutdown"] ?? 0) + (summary.callbacks["expired"] ?? 0)).toBeGreaterThanOrEqual(1)
    await run.checkExactlyOnce(2)
    run.close()
  })

  it("a consumer whose Redis is down stays healthy (every instance would fail alike), saying so in /health's body", async () => {
    const { control, consumer, healthPort } = await consumerBeside(`redis://127.0.0.1:${await freePort()}`, () => '{"sessions": []}')
    try {
      await consumer.waitFor(`health on :${healthPort}`)
      await consumer.waitFor("consumer: redis: ")
      // Until its first look at the control server has an answer, it is unhealthy for that reason; then healthy.
      const answer = async () => {
        const health = await fetch(`http://127.0.0.1:${healthPort}/health`)
        return [health.status, await health.text()] as const
      }
      const deadline = Date.now() + 10_000
      let last = await answer()
      while (last[0] !== 200 && Date.now() < deadline) {
        expect(last).toEqual([503, "worker control server unreachable"])
        await new Promise((resolve) => setTimeout(resolve, 50))
        last = await answer()
      }
      expect(last).toEqual([200, "ok (redis unavailable: waiting for it)"])
    } finally {
      control.closeAllConnections()
      control.close()
    }
  })

  it("a consumer whose worker's control server does not answer says so once, answers /health with 503 (its worker takes no sessions) until it does", async () => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-redis-test-"))
    dirs.push(dir)
    const redisPort = await freePort()
    await startRedis(redisPort, dir)
    // A control server that answers no JSON at first, then as a worker with nothing open; it counts the looks.
    let looks = 0
    let answering = false
    const { control, consumer, controlPort, healthPort } = await consumerBeside(`redis://127.0.0.1:${redisPort}`, () => {
      looks++
      return answering ? '{"sessions": []}' : "not json"
    })
    try {
      await consumer.waitFor(`waiting for the worker's control server at http://127.0.0.1:${controlPort}/sessions (`)
      const deadline = Date.now() + 10_000
      while (looks < 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
      expect(looks).toBeGreaterThanOrEqual(5)
      expect(consumer.output().split("waiting for the worker's control server").length - 1).toBe(1)
      const refused = await fetch(`http://127.0.0.1:${healthPort}/health`)
      expect([refused.status, await refused.text()]).toEqual([503, "worker control server unreachable"])
      answering = true
      await consumer.waitFor(`worker control http://127.0.0.1:${controlPort} answers\n`)
      const healthy = await fetch(`http://127.0.0.1:${healthPort}/health`)
      expect([healthy.status, await healthy.text()]).toEqual([200, "ok"])
      // Once it has answered, its silence is said as such (the worker stopped or restarted), and its return as a return.
      answering = false
      await consumer.waitFor(`the worker's control server at http://127.0.0.1:${controlPort}/sessions stopped answering (`)
      answering = true
      await consumer.waitFor(`worker control http://127.0.0.1:${controlPort} answers again`)
    } finally {
      control.closeAllConnections()
      control.close()
    }
  })

  it("a job that outlives its worker process: the consumer's release names the session it served, gets 409, and leaves the restarted worker's session of the same generation open", async () => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-redis-test-"))
    dirs.push(dir)
    const redisPort = await freePort()
    await startRedis(redisPort, dir)
    const autoscaler = await FakeAutoscaler.start()
    const client = new Redis(`redis://127.0.0.1:${redisPort}`, { maxRetriesPerRequest: null })
    try {
      const before = await startWorkerProcess(autoscaler)
      const consumer = start(process.execPath, [dist("examples/redis-consumer.js")], {
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        WORKER_CONTROL_URL: before.controlUrl,
        SIDECAR_PORT: String(await freePort())
      })
      const sessions = async () => decoded(SessionsAnswer, await request(`${before.controlUrl}/sessions`, { method: "GET" })).sessions
      const create = async () =>
        decoded(CreateSessionAnswer, await request(`${before.publicUrl}/session/create`, { body: { auth_data: authData(), payload: { lifetime: 60 } } }))
      const first = await create()
      await client.rpush(`jobs:${first.session_id}`, JSON.stringify({ job_id: "j-late", input: "x", work_ms: 5_000 }))
      await consumer.waitFor(`session ${first.session_id}: working on j-late`, 20_000)
      // The worker process dies mid-job and another starts on the same ports: it numbers its sessions from 1 again.
      before.worker.child.kill("SIGKILL")
      await before.worker.exited
      await startWorkerProcess(autoscaler, before.env)
      const second = await create()
      expect(second.generation).toBe(first.generation)
      await consumer.waitFor("j-late done, release → 409 (the session had already ended)", 20_000)
      expect((await sessions()).map((session) => [session.session_id, session.generation])).toEqual([[second.session_id, first.generation]])
      expect(await client.get("result:j-late")).toContain('"output":"X"')
    } finally {
      client.disconnect()
      await cleanup()
      await autoscaler.close()
    }
  })

  it("Redis refusing writes (out of memory) while a job is handed over: its session is ended at once, the job tried again and done", async () => {
    const run = await setup({ jobs: 3, workMs: 100 })
    await run.client.config("SET", "maxmemory-policy", "noeviction")
    await run.client.config("SET", "maxmemory", "1")
    await run.dispatcher.waitFor(/could not hand the job to session \w+ \(RPUSH: OOM command not allowed/, 60_000)
    await run.client.config("SET", "maxmemory", "0")
    const { code, output, summary } = await run.summary()
    expect(code, output).toBe(0)
    expect(summary.done).toBe(3)
    // The ended session's callback says `ended`: given back by the dispatcher, not left to expire.
    expect(summary.callbacks["expired"] ?? 0, output).toBe(0)
    expect(summary.callbacks["ended"], output).toBeGreaterThanOrEqual(1)
    // The reply's own message, not the bundle's minified class name.
    expect(output).not.toMatch(/RPUSH: \w+: OOM/)
    await run.checkExactlyOnce(3)
    run.close()
  })

  it("SIGTERM to the dispatcher mid-job: the session it holds is ended (not left to expire), it says so, exit 143", async () => {
    const run = await setup({ jobs: 1, workMs: 30_000 })
    const [, sessionId] = await run.dispatcher.waitFor(/job-1 → session (\w+) on/, 60_000)
    run.dispatcher.child.kill("SIGTERM")
    expect(await run.dispatcher.exited).toBe(143)
    const output = run.dispatcher.output()
    expect(output).toContain(`job-1: stopped before it was done; session ${sessionId} ended`)
    expect(output).toContain("interrupted: the sessions held were ended; jobs not done are left for a later run")
    // The worker holds it no longer (its lifetime, 20 s, is far from over).
    const status = (await run.status()) as { workers: Array<{ sessions?: Array<{ session_id: string }> | null }> }
    expect(status.workers.flatMap((worker) => worker.sessions ?? []).map((session) => session.session_id)).not.toContain(sessionId)
    run.close()
  })

  it("Redis restarted mid-run: consumers and dispatcher reconnect, nothing is lost", async () => {
    const run = await setup({ jobs: 8, workMs: 200 })
    const deadline = Date.now() + 20_000
    while ((await run.client.keys("done:*").catch(() => [])).length < 2) {
      if (Date.now() > deadline) throw new Error("no job finished before the restart")
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await run.restartRedis()
    const { code, output, summary } = await run.summary()
    expect(code, output).toBe(0)
    expect(summary.done).toBe(8)
    expect(summary.duplicate_callbacks).toBe(0)
    await run.checkExactlyOnce(8)
    run.close()
  })
})
