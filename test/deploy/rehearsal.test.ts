/**
 * docs/deploy-vast.md's rehearsal of start-vast.sh on one's own machine, run with bash as printed there (its workspace
 * made a temporary directory): what the page says follows must follow.
 */
import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { tracked } from "../support/cleanup.js"
import { alive, processTree, spawnProcess } from "../support/process.js"

const { cleanup, processes } = tracked()
const leftovers: Array<number> = []
const dirs: Array<string> = []
afterEach(async () => {
  for (const pid of leftovers.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL")
  await cleanup()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const root = fileURLToPath(new URL("../..", import.meta.url))

/** The bash block that follows `after` in docs/deploy-vast.md. */
const blockAfter = (after: string): string => {
  const page = readFileSync(join(root, "docs", "deploy-vast.md"), "utf8")
  const start = page.indexOf(after)
  const block = start < 0 ? undefined : /```bash\n([\s\S]*?)```/.exec(page.slice(start))?.[1]
  if (block === undefined) throw new Error(`docs/deploy-vast.md: no bash block after '${after}'`)
  return block
}

describe("docs/deploy-vast.md's rehearsal", { timeout: 60_000 }, () => {
  it("as printed: the stand-in autoscaler prints the reports, the consumer's exit recycles the worker and is reported, the script ends", async () => {
    const block = blockAfter("**Before you pay for an instance**")
    // Every file the script and worker write is the workspace's: the host's /.force_update is neither read nor removed.
    expect(block).toMatch(/ WORKSPACE_DIR=\$W /)
    expect(block).toMatch(/ NULL_FORCE_UPDATE_FILE=\$W\/force_update /)
    // The stand-in autoscaler is the page's `%1`, stopped once the script's watcher has sent its last report, as the page says.
    const stop = blockAfter("then stop the stand-in\nautoscaler:")
    const shell = spawnProcess("bash", ["-c", `${block}\n${stop}\nwait`], {
      PATH: `${process.execPath.replace(/\/node$/, "")}:${process.env["PATH"] ?? ""}`
    })
    processes.push(shell)
    // Its own fresh workspace, said first: two rehearsals never share a log or an exit marker.
    const workspace = (await shell.waitFor(/workspace: (\S+)\n/))[1] ?? ""
    dirs.push(workspace)
    expect(workspace).toMatch(/^\/tmp\/rehearsal-/)
    await shell.waitFor("/worker_status/", 15_000)
    leftovers.push(...processTree(shell.child.pid ?? 0))
    expect(await shell.exited, shell.output()).toBe(0)
    const output = shell.output()
    expect(output).toMatch(/\/worker_status\/ \{[^\n]*"max_perf":100/)
    expect(output).toMatch(/\/worker_status\/ \{[^\n]*"error_msg":"Recycled by the consumer: consumer exited with status 3"/)
    const log = readFileSync(join(workspace, "null-worker.log"), "utf8")
    expect(log).toContain("ERROR: consumer exited with status 3: recycling and stopping the worker")
    expect(log).toContain('message="worker stopped"')
    // The watcher's own report, after the worker's last: what the stand-in must still be there to receive.
    expect(output).toMatch(/\/worker_status\/ \{[^\n]*"error_msg":"consumer exited with status 3"/)
    expect(log).toMatch(/reported the error to http:\/\/127\.0\.0\.1:\d+\/worker_status\/ \(HTTP 200\)/)
  })
})
