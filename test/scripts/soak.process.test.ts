/** `npm run soak`'s command line: `--help` runs nothing, and a bad value is refused before a worker starts. */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { alive, killLeftovers, processTree, spawnProcess } from "../support/process.js"
import { until } from "../support/serverless.js"

const soak = fileURLToPath(new URL("../../scripts/soak.mjs", import.meta.url))
const run = (...args: ReadonlyArray<string>) => spawnSync(process.execPath, [soak, ...args], { encoding: "utf8", timeout: 10_000 })

const workers: Array<number> = []
afterEach(() => {
  killLeftovers()
  for (const pid of workers.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL")
})

describe("scripts/soak.mjs", () => {
  it("a soak stopped by SIGTERM leaves no worker running (review 43 L2)", async () => {
    const script = spawnProcess(process.execPath, [soak, "--minutes", "1", "--rate", "5"], {})
    const worker = await until("the soak's worker", () => processTree(script.child.pid ?? 0)[0], 20_000)
    workers.push(worker)
    script.child.kill("SIGTERM")
    await script.exited
    // The worker notices within a second that its parent has gone, and stops.
    await until("the worker to stop", () => (alive(worker) ? undefined : true), 15_000)
  }, 40_000)

  it("--help prints the usage and exits 0", () => {
    const help = run("--help")
    expect(help.status).toBe(0)
    expect(help.stdout).toContain("usage: npm run soak -- [--minutes N] [--rate R]")
  })

  it("a --minutes or --rate that is not a number above 0, or an unknown option, is refused with the usage: exit 1", () => {
    for (const [args, first] of [
      [["--minutes", "abc"], '--minutes must be a number above 0, not "abc"'],
      [["--minutes", "0"], '--minutes must be a number above 0, not "0"'],
      [["--rate=-1"], '--rate must be a number above 0, not "-1"'],
      [["--bogus"], "Unknown option '--bogus'"]
    ] as const) {
      const refused = run(...args)
      expect(refused.status, args.join(" ")).toBe(1)
      expect(refused.stderr.split("\n")[0], args.join(" ")).toContain(first)
      expect(refused.stderr, args.join(" ")).toContain("usage: npm run soak")
    }
  })
})
