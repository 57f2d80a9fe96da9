/**
 * `examples/client-library/reserveOne.ts`, the README's client-library example, run against the local serverless:
 * it reserves a worker, holds the session while its "job" runs, and ends it.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { basename, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { tracked } from "../support/cleanup.js"
import { freePort, spawnProcess } from "../support/process.js"
import { type RunningServerless, startServerless, until } from "../support/serverless.js"

const example = fileURLToPath(new URL("../../dist/examples/reserve-one.js", import.meta.url))

const { cleanup, processes } = tracked()
const started: Array<RunningServerless> = []
afterEach(async () => {
  await cleanup()
  for (const serverless of started.splice(0)) await serverless.stop()
})

/** The example against a fresh local serverless, once its session is held; `jobTime` is its JOB_TIME. */
const startHeld = async (jobTime: string) => {
  const serverless = await startServerless(["--recommended"])
  started.push(serverless)
  const run = spawnProcess(process.execPath, [example], {
    VAST_API_KEY: "k",
    VAST_ENDPOINT: "null-local",
    JOB_TIME: jobTime,
    VAST_WEBSERVER_URL: serverless.url,
    VAST_AUTOSCALER_URL: serverless.url
  })
  processes.push(run)
  const [, sessionId = ""] = await run.waitFor(/session (\w+) on http/, 30_000)
  const held = async () => (await serverless.status()).workers.flatMap((worker) => worker.sessions ?? []).map((session) => session.session_id)
  // Held while the job runs: the worker shows it.
  await until("the worker to hold the session", async () => ((await held()).includes(sessionId) ? true : undefined))
  return { run, sessionId, held }
}

describe("the client-library example (dist/examples/reserve-one.js)", () => {
  it("nothing listening at its webserver: the hint names its own setting (VAST_WEBSERVER_URL), not the command line's flags", async () => {
    const url = `http://127.0.0.1:${await freePort()}`
    const run = spawnProcess(process.execPath, [example], { VAST_API_KEY: "k", VAST_ENDPOINT: "null-local", VAST_WEBSERVER_URL: url, VAST_AUTOSCALER_URL: url })
    processes.push(run)
    expect(await run.exited).toBe(1)
    expect(run.output()).toContain("nothing listens there: start the local serverless (node dist/serverless.js), or point VAST_WEBSERVER_URL at a running one")
    expect(run.output()).not.toContain("--")
  })

  it("reserves a worker, holds the session for the job, ends it, and exits 0", async () => {
    const { run, sessionId, held } = await startHeld("1 second")
    expect(await run.exited, run.output()).toBe(0)
    // Ended, not left to expire: no worker holds it any more; and it says so.
    expect(await held()).not.toContain(sessionId)
    expect(run.output()).toContain(`job done: session ${sessionId} ended`)
    // The project's logfmt lines, as the other programs write them: no pretty logger's "[hh:mm:ss] INFO (#0):".
    expect(run.output()).toMatch(new RegExp(`^timestamp=\\S+ level=INFO message="job done: session ${sessionId} ended"$`, "m"))
  })

  it("an end that fails (its worker gone) fails the run: exit 1, not 'job done' (newcomer 24 #1)", async () => {
    const { run, sessionId } = await startHeld("2 seconds")
    const pids = (await started[0]!.status()).workers.flatMap((worker) => (worker.pid === null ? [] : [worker.pid]))
    expect(pids.length).toBeGreaterThan(0)
    for (const pid of pids) process.kill(pid, "SIGKILL")
    expect(await run.exited, run.output()).toBe(1)
    expect(run.output()).toContain(`session ${sessionId} not ended`)
    expect(run.output()).not.toContain("job done")
  })

  it("Ctrl-C mid-job ends the session before it exits, with status 130", async () => {
    const { run, sessionId, held } = await startHeld("10 minutes")
    run.child.kill("SIGINT")
    expect(await run.exited, run.output()).toBe(130)
    expect(run.output()).toContain(`interrupted: ending session ${sessionId}`)
    expect(run.output()).toContain(`session ${sessionId} ended`)
    // The session's lifetime is 600 s: gone now means ended, not expired.
    expect(await held()).not.toContain(sessionId)
  })

  it("Ctrl-C while no worker is free stops the routing at once, with status 130; the wait before it is said (newcomer 37 #1)", async () => {
    const serverless = await startServerless(["--recommended", "--max-workers", "0"])
    started.push(serverless)
    const run = spawnProcess(process.execPath, [example], {
      VAST_API_KEY: "k",
      VAST_ENDPOINT: "null-local",
      VAST_WEBSERVER_URL: serverless.url,
      VAST_AUTOSCALER_URL: serverless.url
    })
    processes.push(run)
    // Signalled once it is routing: its request waits at the serverless (no worker may start).
    await until("the example's request waiting", async () => ((await serverless.status()).waiting.length > 0 ? true : undefined), 15_000)
    await run.waitFor(/message="waiting for a worker \(request_idx 1\), asking again in 1\.0 s"/, 15_000)
    expect(run.output()).toContain('message="routing (request_idx 0)"')
    run.child.kill("SIGINT")
    expect(await run.exited, run.output()).toBe(130)
    expect(run.output()).not.toContain("session")
    // Not silent: the stop is said.
    expect(run.output()).toContain('message="interrupted before a worker was reserved: nothing was reserved"')
  }, 30_000)

  it("the README's 'Your own file' block, run as printed (in a scratch folder of the checkout for mine/), bundles a copy that reserves, holds and ends (newcomer 40 #2)", async () => {
    const root = fileURLToPath(new URL("../..", import.meta.url))
    const readme = readFileSync(join(root, "README.md"), "utf8")
    const block = /```bash\n(mkdir -p mine\n[\s\S]*?)```/.exec(readme)?.[1]
    expect(block).toBeDefined()
    const scratch = mkdtempSync(join(root, ".mine-test-"))
    try {
      const lines = (block ?? "").replaceAll("mine/", `${basename(scratch)}/`).replace("mkdir -p mine", `mkdir -p ${basename(scratch)}`).trim().split("\n")
      // All but its last line (which runs the bundle, with the variables above).
      expect(lines.at(-1)).toBe(`node ${basename(scratch)}/dispatch.cjs`)
      execFileSync("bash", ["-euo", "pipefail", "-c", lines.slice(0, -1).join("\n")], { cwd: root, stdio: "pipe" })
      const serverless = await startServerless(["--recommended"])
      started.push(serverless)
      const run = spawnProcess(process.execPath, [join(scratch, "dispatch.cjs")], {
        VAST_API_KEY: "k",
        VAST_ENDPOINT: "null-local",
        JOB_TIME: "1 second",
        VAST_WEBSERVER_URL: serverless.url,
        VAST_AUTOSCALER_URL: serverless.url
      })
      processes.push(run)
      expect(await run.exited, run.output()).toBe(0)
      expect(run.output()).toMatch(/message="job done: session \w+ ended"/)
    } finally {
      rmSync(scratch, { recursive: true, force: true })
    }
  }, 60_000)

  it("VAST_API_KEY=local with no URL of this machine is warned of at start, naming its variables (newcomer 40 #8)", async () => {
    const run = spawnProcess(process.execPath, [example], { VAST_API_KEY: "local", VAST_WEBSERVER_URL: "http://192.0.2.1:9", VAST_AUTOSCALER_URL: "http://192.0.2.1:9" })
    processes.push(run)
    await run.waitFor(/warning: .*\n/, 15_000)
    run.child.kill("SIGTERM")
    await run.exited
    expect(run.output()).toContain(
      'warning: VAST_API_KEY is "local", the local serverless\'s key, but the run goes to http://192.0.2.1:9: for the local serverless set VAST_WEBSERVER_URL and VAST_AUTOSCALER_URL to its address\n'
    )
  })

  it("a JOB_TIME that is no duration is refused in one line naming the form, before anything is reserved; bare seconds, spaces around, a short unit (newcomer 35 #10), are one", async () => {
    const base = { VAST_API_KEY: "k", VAST_WEBSERVER_URL: "http://127.0.0.1:9", VAST_AUTOSCALER_URL: "http://127.0.0.1:9" }
    const run = spawnProcess(process.execPath, [example], { ...base, JOB_TIME: "3 parsecs" })
    processes.push(run)
    expect(await run.exited).toBe(1)
    expect(run.output()).toBe('JOB_TIME: must be a duration above 0: seconds ("90") or with a unit ("90s", "5m", "5 minutes"), not "3 parsecs"\n')
    // Taken: the run goes on to the endpoint lookup, which fails here (nothing listens on port 9).
    for (const taken of ["3", " 2.5 ", "  2 seconds ", "2s", "1m"]) {
      const accepted = spawnProcess(process.execPath, [example], { ...base, JOB_TIME: taken })
      processes.push(accepted)
      expect(await accepted.exited, taken).toBe(1)
      expect(accepted.output(), taken).not.toContain("JOB_TIME")
      expect(accepted.output(), taken).toContain("127.0.0.1:9")
    }
  })

  it("a JOB_TIME of 0 or less, or a URL variable that is no http(s) URL, is refused in one line naming the variable", async () => {
    const base = { VAST_API_KEY: "k", VAST_WEBSERVER_URL: "http://127.0.0.1:9", VAST_AUTOSCALER_URL: "http://127.0.0.1:9" }
    for (const [env, line] of [
      [{ JOB_TIME: "-5 seconds" }, 'JOB_TIME: must be a duration above 0: seconds ("90") or with a unit ("90s", "5m", "5 minutes"), not "-5 seconds"'],
      [{ JOB_TIME: "0" }, 'JOB_TIME: must be a duration above 0: seconds ("90") or with a unit ("90s", "5m", "5 minutes"), not "0"'],
      [{ JOB_TIME: "Infinity" }, 'JOB_TIME: must be a duration above 0: seconds ("90") or with a unit ("90s", "5m", "5 minutes"), not "Infinity"'],
      [{ VAST_WEBSERVER_URL: "console.vast.ai" }, 'VAST_WEBSERVER_URL: must be an http(s) URL, not "console.vast.ai"'],
      [{ VAST_AUTOSCALER_URL: "ftp://run.vast.ai" }, 'VAST_AUTOSCALER_URL: must be an http(s) URL, not "ftp://run.vast.ai"']
    ] as const) {
      const run = spawnProcess(process.execPath, [example], { ...base, ...env })
      processes.push(run)
      expect(await run.exited, line).toBe(1)
      expect(run.output(), line).toBe(`${line}\n`)
    }
  })

  it("without VAST_API_KEY it says so in one line and exits 1", async () => {
    const run = spawnProcess(process.execPath, [example], { VAST_WEBSERVER_URL: "http://127.0.0.1:9", VAST_AUTOSCALER_URL: "http://127.0.0.1:9" })
    processes.push(run)
    expect(await run.exited).toBe(1)
    expect(run.output()).toBe("VAST_API_KEY is not set: export your Vast.ai API key (console.vast.ai → Account → API keys), or `local` for the local serverless (its --api-key)\n")
  })
})
