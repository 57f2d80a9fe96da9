/**
 * `node dist/sidecar.js <command>`, the local serverless's sidecar runner (real processes): it exits as its command
 * did, and stops its whole process group once its parent is gone, even when the parent died before it looked.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { processGroup } from "../support/process.js"
import { until } from "../support/serverless.js"

const sidecarJs = fileURLToPath(new URL("../../dist/sidecar.js", import.meta.url))

/** Groups the tests started: each runner leads its own, as under the launcher. */
const groups: Array<number> = []
afterEach(() => {
  for (const group of groups.splice(0)) if (processGroup(group).length > 0) process.kill(-group, "SIGKILL")
})

/** The runner with `command`, leading its own process group; resolves with how it ended. */
const runSidecar = (command: string, env: Record<string, string> = {}) => {
  const child = spawn(process.execPath, [sidecarJs, command], { env: { PATH: process.env["PATH"] ?? "", ...env }, stdio: "ignore", detached: true })
  groups.push(child.pid ?? 0)
  const ended = new Promise<string>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? String(code))))
  return { pid: child.pid ?? 0, ended }
}

describe("the sidecar runner (dist/sidecar.js)", () => {
  it("exits as its command did: with its status, or by the signal that ended it", async () => {
    expect(await runSidecar("exit 3").ended).toBe("3")
    expect(await runSidecar("kill -TERM $$").ended).toBe("SIGTERM")
  })

  it("a command that ends leaving jobs in its group: they are stopped (SIGTERM, then SIGKILL after the grace), and the runner exits with the command's status", async () => {
    const polite = runSidecar("sleep 600 & sleep 601 & exit 0")
    expect(await polite.ended).toBe("0")
    // Stopped before the runner exits; gone from the table once their new parent has reaped them.
    await until("the jobs to be gone", () => (processGroup(polite.pid).length === 0 ? true : undefined), 2_000)
    // A job that ignores SIGTERM is killed once the launcher's grace (5 s) has passed; the status is still the command's.
    // So is one the launcher's SIGTERM to the group left behind: the shell died of it, its child did not (a consumer that
    // ignores it): the runner, which the launcher waits for, stays until that child is gone.
    const stubborn = runSidecar("(trap '' TERM; exec sleep 602) & sleep 0.2; exit 4")
    const stopped = runSidecar("(trap '' TERM; exec sleep 603); exit 0")
    const started = Date.now()
    await until("the stopped sidecar's shell and child", () => (processGroup(stopped.pid).length >= 3 ? true : undefined), 2_000)
    process.kill(-stopped.pid, "SIGTERM")
    expect(await stubborn.ended).toBe("4")
    expect(await stopped.ended).toBe("SIGTERM")
    expect(Date.now() - started).toBeGreaterThanOrEqual(5_000)
    for (const { pid } of [stubborn, stopped]) await until("the job to be gone", () => (processGroup(pid).length === 0 ? true : undefined), 2_000)
  }, 20_000)

  it("a parent already gone when it starts (killed during its start-up): the whole group is stopped at once", async () => {
    const gone = spawn("true")
    await new Promise((resolve) => gone.once("exit", resolve))
    // The command leaves a process of its own behind, outside the shell's children but in the group.
    const runner = runSidecar("(sleep 600 &); sleep 601", { NULL_PARENT_PID: String(gone.pid) })
    expect(await runner.ended).toBe("SIGKILL")
    await until("the group to be gone", () => (processGroup(runner.pid).length === 0 ? true : undefined), 5_000)
  })
})
