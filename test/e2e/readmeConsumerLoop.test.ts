/**
 * The README's "pattern for a consumer" shell loop, as printed there, run with bash, curl and jq against a real
 * worker: under `scripts/start-vast.sh` the consumer starts before the worker, so the loop's first polls fail, and
 * it must still pick up the session that comes later and release it by its id.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Schema } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { CreateSessionAnswer } from "../../src/protocol/session.js"
import { tracked } from "../support/cleanup.js"
import { FakeAutoscaler } from "../support/fakeAutoscaler.js"
import { freePort, spawnProcess, spawnWorker } from "../support/process.js"
import { authData } from "../support/sessions.js"

const { cleanup, processes } = tracked()
const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop()
  await cleanup()
})

/** The bash block that follows "The pattern for a consumer …:" in the reference (its "Leases"). */
const readmeLoop = (): string => {
  const readme = readFileSync(fileURLToPath(new URL("../../docs/reference.md", import.meta.url)), "utf8")
  const block = /The pattern for a consumer[^\n]*:\s*```bash\n([\s\S]*?)```/.exec(readme)?.[1]
  if (block === undefined) throw new Error("docs/reference.md: no bash block after 'The pattern for a consumer …:'")
  return block
}

describe("the reference's consumer loop (docs/reference.md, Leases)", { timeout: 30_000 }, () => {
  it("without curl or jq it stops at once and says which it needs, instead of polling for ever", async () => {
    // PATHs with nothing on them, and with curl alone: bash's builtins still run.
    const curlOnly = mkdtempSync(join(tmpdir(), "null-worker-path-"))
    try {
      symlinkSync(execFileSync("bash", ["-c", "command -v curl"], { encoding: "utf8" }).trim(), join(curlOnly, "curl"))
      for (const [path, tool] of [["/nonexistent", "curl"], [curlOnly, "jq"]] as const) {
        const loop = spawnProcess("/bin/bash", ["-c", readmeLoop()], { PATH: path })
        processes.push(loop)
        expect(await loop.exited, tool).toBe(1)
        expect(loop.output(), tool).toBe(`this loop needs ${tool} (Debian/Ubuntu: apt-get install ${tool})\n`)
      }
    } finally {
      rmSync(curlOnly, { recursive: true, force: true })
    }
  })

  it("starts before the worker, then picks up a session and releases it by its id", async () => {
    const controlPort = await freePort()
    // The loop finds the worker at WORKER_CONTROL_URL, as start-vast.sh and the local serverless set it for a consumer.
    const script = readmeLoop()
    // The README's stand-in job announces the session it holds; `-x` traces each command, so the test sees the loop poll.
    const loop = spawnProcess("bash", ["-x", "-c", script], {
      WORKER_CONTROL_URL: `http://127.0.0.1:${controlPort}`
    })
    processes.push(loop)
    // A poll made while nothing listens on the control port, and the loop still going after it.
    await loop.waitFor(/\+ curl [\s\S]*\+ curl /)

    const autoscaler = await FakeAutoscaler.start()
    stops.push(() => autoscaler.close())
    const workerPort = await freePort()
    const worker = spawnWorker({
      WORKER_PORT: String(workerPort),
      WORKER_HTTP_PORT: String(await freePort()),
      NULL_CONTROL_PORT: String(controlPort),
      REPORT_ADDR: autoscaler.url,
      CONTAINER_ID: "7",
      PUBLIC_IPADDR: "127.0.0.1",
      [`VAST_TCP_PORT_${workerPort}`]: String(workerPort),
      UNSECURED: "true"
    })
    processes.push(worker)
    await worker.waitFor("control listening")

    const created = await fetch(`http://127.0.0.1:${workerPort}/session/create`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ auth_data: authData(), payload: { lifetime: 60 } })
    })
    expect(created.status).toBe(201)
    const { session_id } = Schema.decodeUnknownSync(CreateSessionAnswer)(await created.json())
    await loop.waitFor(`job for session ${session_id}`, 15_000)
    await worker.waitFor(/session closed.*reason=released/, 15_000)
    // Named by its id (bash -x shows the body as sent): a late release after a worker restart gets 409.
    expect(loop.output()).toContain(`-d '{"session_id": "${session_id}"}'`)
  })
})
