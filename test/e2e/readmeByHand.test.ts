/**
 * The README's "Running a worker by hand" blocks, as printed there, run with
 * bash and curl one after the other in one shell: each step must do what its comment says.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { tracked } from "../support/cleanup.js"
import { alive, processTree, spawnProcess } from "../support/process.js"

const { cleanup, processes } = tracked()
const leftovers: Array<number> = []
afterEach(async () => {
  for (const pid of leftovers.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL")
  await cleanup()
})

/** The two bash blocks under "## Running a worker by hand" (start and wait; the rest), one after the other. */
const readmeBlock = (): string => {
  const readme = readFileSync(fileURLToPath(new URL("../../README.md", import.meta.url)), "utf8")
  const blocks = /## Running a worker by hand[\s\S]*?```bash\n([\s\S]*?)```[\s\S]*?```bash\n([\s\S]*?)```/.exec(readme)
  if (blocks === null) throw new Error("README: not two bash blocks under '## Running a worker by hand'")
  expect(blocks[1]).toContain("the worker does not answer")
  expect(blocks[2]).toContain("kill %1; wait %1; kill %2")
  // The second block pasted twice, the first time without its last line (the stop), as the README says it can be.
  const again = (blocks[2] ?? "").replace(/\n# stop it[\s\S]*$/, "\n")
  expect(again).not.toContain("kill")
  return `${blocks[1]}${again}${blocks[2]}`
}

describe("the README's worker by hand", { timeout: 30_000 }, () => {
  it("pasted in turn, the second block twice: waits for the worker, reserves, gets 429 for a second create, pings, releases (callback), ends with 410; again with the next generation; stops", async () => {
    // As printed, its ports picked by its own first line.
    const block = readmeBlock()
    // The worker's drain after `kill` outlives bash: bash waits for its background jobs at the end.
    const shell = spawnProcess("bash", ["-c", `${block}\nwait`], { PATH: `${process.execPath.replace(/\/node$/, "")}:${process.env["PATH"] ?? ""}` })
    processes.push(shell)
    await shell.waitFor(/reserved session/, 15_000)
    leftovers.push(...processTree(shell.child.pid ?? 0))
    expect(await shell.exited, shell.output()).toBe(0)
    const output = shell.output()
    const ids = [...output.matchAll(/reserved session (\S+) \(generation (\d+)\)/g)].map((match) => [match[1] ?? "", Number(match[2])] as const)
    expect(ids.map(([, generation]) => generation)).toEqual([1, 2])
    for (const [id, generation] of ids) {
      expect(id).toMatch(/^[A-Za-z0-9]{13}$/)
      expect(output).toContain(`{"released":true,"session_ids":["${id}"]}`)
      expect(output).toContain(`callback: {"job_id":"j-1","session_id":"${id}","close_reason":"released","generation":${generation}}`)
    }
    expect(output.match(/second create: 429/g)).toHaveLength(2)
    expect(output.match(/\{"result":\{"ok":true\},"expiration":[0-9.]+\}/g)).toHaveLength(2)
    expect(output.match(/\{"error":"session already closed"\}/g)).toHaveLength(2)
    expect(output).not.toContain("no session")
    expect(output).toContain('message="worker stopped"')
  })
})
