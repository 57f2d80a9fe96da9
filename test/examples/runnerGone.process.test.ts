/**
 * An example's runner that loses its reader (`| head`) or is killed outright (`kill -9`) leaves nothing behind: its
 * redis-server runs under the sidecar runner, and its dispatcher, serverless and workers watch their parents.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { alive, childEnv, processTree } from "../support/process.js"
import { skipWithoutRedis } from "../support/redisServer.js"

const runner = fileURLToPath(new URL("../../dist/examples/redis-example.js", import.meta.url))
const started: Array<number> = []
afterEach(() => {
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL")
})

/** The processes of `pids` still alive once all have gone or 20 s have passed (a poll of real processes), so that a failure names them. */
const allGone = async (pids: ReadonlyArray<number>): Promise<ReadonlyArray<number>> => {
  for (let polls = 0; ; polls++) {
    const left = pids.filter(alive)
    if (left.length === 0 || polls === 200) return left
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The runner started on `jobs` jobs, once it has said `line`: the process, its stderr so far, and its children then. */
const startedUntil = async (jobs: number, line: string) => {
  const child = spawn(process.execPath, [runner, "--jobs", String(jobs)], { stdio: ["ignore", "pipe", "pipe"], env: childEnv() })
  started.push(child.pid ?? 0)
  let stderr = ""
  child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString("utf8")))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  let seen = ""
  // A runner that fails at start says why, rather than leaving the test to its timeout.
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      seen += chunk.toString("utf8")
      if (seen.includes(line)) resolve()
    })
    void exited.then((code) => reject(new Error(`the runner exited (${code}) before saying ${JSON.stringify(line)}: ${stderr}`)))
  })
  const tree = processTree(child.pid ?? 0)
  started.push(...tree)
  return { child, tree, exited, stderr: () => stderr }
}

describe.skipIf(skipWithoutRedis("the example runner's leftovers test"))("an example runner that goes away", { timeout: 60_000 }, () => {
  it("its reader gone (as after `| head`): it stops the run in order, says so, exit 141 (a closed pipe's status), no EPIPE stack, nothing left", async () => {
    // 500 jobs: minutes of work, so an exit within the test's time is the stop, not the run's end.
    const run = await startedUntil(500, "dispatcher |")
    expect(run.tree.length, "redis, serverless, dispatcher").toBeGreaterThanOrEqual(3)
    // Every write after this fails with EPIPE. A runner that runs on instead fails here, with what it said.
    run.child.stdout.destroy()
    const exited = await Promise.race([run.exited, new Promise<string>((resolve) => setTimeout(() => resolve("still running after 20 s"), 20_000))])
    expect(exited, run.stderr()).toBe(141)
    expect(run.stderr()).toContain("redis example: its output was closed; everything it started has stopped\n")
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
