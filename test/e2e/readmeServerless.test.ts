/**
 * The README's blocks that start the local serverless in the background and wait for it: as printed (on a free port)
 * they run the client once it listens; with the serverless failing (a mistyped flag) they end at once, show its log,
 * and run no client (newcomer 39 #2, #3: one block ran the client against whatever held port 8080, the other waited
 * forever).
 */
import { mkdtempSync, readFileSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
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

const root = fileURLToPath(new URL("../..", import.meta.url))
const readme = readFileSync(join(root, "README.md"), "utf8")

/** The README's bash block holding `marker`. */
const blockWith = (marker: string): string => {
  const block = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].map((match) => match[1] ?? "").find((text) => text.includes(marker))
  if (block === undefined) throw new Error(`README: no bash block holds ${marker}`)
  return block
}
const onPort8080 = () => blockWith("# the local serverless, on 8080")
const onAnyPort = () => blockWith("node dist/serverless.js --port 0")

/** `block` run by bash in a directory of its own (its `serverless.log`), with this checkout's `dist/`. */
const run = (block: string) => {
  const dir = mkdtempSync(join(tmpdir(), "readme-serverless-"))
  symlinkSync(join(root, "dist"), join(dir, "dist"))
  const shell = spawnProcess("bash", ["-c", `cd ${dir}\n${block}\nwait`], { PATH: `${process.execPath.replace(/\/node$/, "")}:${process.env["PATH"] ?? ""}` })
  processes.push(shell)
  return shell
}

const mistyped = (block: string) => {
  expect(block).toContain("node dist/serverless.js --")
  return block.replace(/node dist\/serverless\.js (.*)--recommended/, "node dist/serverless.js $1--recomended")
}

describe("the README's blocks that start the local serverless", { timeout: 60_000 }, () => {
  for (const [name, block] of [["on port 8080", onPort8080], ["on --port 0", onAnyPort]] as const) {
    it(`${name}: a serverless that fails to start ends the block at once with its log shown, and no client is run`, async () => {
      const shell = run(mistyped(block()))
      expect(await shell.exited, shell.output()).toBe(0)
      expect(shell.output()).toContain("unknown flag --recomended")
      expect(shell.output()).not.toMatch(/endpoint lookup|routing|created/)
    })
  }

  it("on --port 0, as printed: the client's demo runs against the serverless once it listens, then the status page, then the stop", async () => {
    const shell = run(onAnyPort())
    // The serverless and its workers, should the block fail before its stop.
    await shell.waitFor(/created/, 30_000)
    leftovers.push(...processTree(shell.child.pid ?? 0))
    expect(await shell.exited, shell.output()).toBe(0)
    const output = shell.output()
    expect(output).toContain("done: 2 created, 2 ended, 0 closed by the worker, 0 failure(s)")
    expect(output).toMatch(/\{"at":[0-9.]+,"endpoint":\{"name":"null-local".* …/)
  })
})
