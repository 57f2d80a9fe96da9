/**
 * An example's runner that loses its reader (`| head`) or is killed outright (`kill -9`) leaves nothing behind: its
 * redis-server runs under the sidecar runner, and its dispatcher, serverless and workers watch their parents.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { alive, processTree } from "../support/process.js"
import { skipWithoutRedis } from "../support/redisServer.js"

const runner = fileURLToPath(new URL("../../dist/examples/redis-example.js", import.meta.url))
const started: Array<number> = []
afterEach(() => {
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL")
})

/** Until every process in `pids` has gone (a poll of real processes, bounded by the test's time). */
const allGone = async (pids: ReadonlyArray<number>): Promise<ReadonlyArray<number>> => {
  for (;;) {
    const left = pids.filter(alive)
    if (left.length === 0) return left
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The runner started on `jobs` jobs, once it has said `line`: the process, its stderr so far, and its children then. */
const startedUntil = async (jobs: number, line: string) => {
  const child = spawn(process.execPath, [runner, "--jobs", String(jobs)], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env["PATH"] ?? "" } })
  started.push(child.pid ?? 0)
  let stderr = ""
  child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString("utf8")))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  let seen = ""
  await new Promise<void>((resolve) => {
    child.stdout.on("data", (chunk: Buffer) => {
      seen += chunk.toString("utf8")
      if (seen.includes(line)) resolve()
    })
  })
  const tree = processTree(child.pid ?? 0)
  started.push(...tree)
  return { child, tree, exited, stderr: () => stderr }
}

describe.skipIf(skipWithoutRedis("the example runner's leftovers test"))("an example runner that goes away", { timeout: 60_000 }, () => {
  it("its reader gone (as after `| head`): it runs to its end, exit 0, no EPIPE stack, and stops everything it started", async () => {
    const run = await startedUntil(5, "dispatcher |")
    expect(run.tree.length, "redis, serverless, dispatcher").toBeGreaterThanOrEqual(3)
    // Every write after this fails with EPIPE.
    run.child.stdout.destroy()
    expect(await run.exited, run.stderr()).toBe(0)
    expect(run.stderr()).not.toContain("EPIPE")
    expect(await allGone(run.tree)).toEqual([])
  })

  it("killed outright (SIGKILL): its redis-server, serverless, dispatcher and workers all stop by themselves", async () => {
    const run = await startedUntil(50, "dispatcher |")
    expect(run.tree.length, "redis, serverless, dispatcher").toBeGreaterThanOrEqual(3)
    run.child.kill("SIGKILL")
    expect(await allGone(run.tree)).toEqual([])
  })
})
