/**
 * `examples/client-library/reserveOne.ts`, the README's client-library example, run against the local serverless:
 * it reserves a worker, holds the session while its "job" runs, and ends it.
 */
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { tracked } from "../support/cleanup.js"
import { spawnProcess } from "../support/process.js"
import { type RunningServerless, startServerless, until } from "../support/serverless.js"

const example = fileURLToPath(new URL("../../dist/examples/reserve-one.js", import.meta.url))

const { cleanup, processes } = tracked()
const started: Array<RunningServerless> = []
afterEach(async () => {
  await cleanup()
  for (const serverless of started.splice(0)) await serverless.stop()
})

describe("the client-library example (dist/examples/reserve-one.js)", () => {
  it("reserves a worker, holds the session for the job, ends it, and exits 0", async () => {
    const serverless = await startServerless(["--recommended"])
    started.push(serverless)
    const run = spawnProcess(process.execPath, [example], {
      VAST_API_KEY: "k",
      VAST_ENDPOINT: "null-local",
      JOB_TIME: "1 second",
      VAST_WEBSERVER_URL: serverless.url,
      VAST_AUTOSCALER_URL: serverless.url
    })
    processes.push(run)
    const [, sessionId = ""] = await run.waitFor(/session (\w+) on http/, 30_000)
    // Held while the job runs: the worker shows it.
    await until("the worker to hold the session", async () =>
      (await serverless.status()).workers.some((worker) => worker.sessions?.some((held) => held.session_id === sessionId) === true) ? true : undefined
    )
    expect(await run.exited, run.output()).toBe(0)
    // Ended, not left to expire: no worker holds it any more.
    const after = await serverless.status()
    expect(after.workers.flatMap((worker) => worker.sessions ?? []).map((held) => held.session_id)).not.toContain(sessionId)
  })
})
