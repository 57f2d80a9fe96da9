/** The benchmark scripts' command lines: `--help` runs nothing, and an unknown option is refused before a server starts. */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const script = (name: string) => fileURLToPath(new URL(`../../scripts/${name}`, import.meta.url))
const run = (name: string, ...args: ReadonlyArray<string>) => spawnSync(process.execPath, [script(name), ...args], { encoding: "utf8", timeout: 10_000 })

describe("scripts/bench.mjs and scripts/interleave.mjs", () => {
  it("--help prints the usage and exits 0, starting nothing", () => {
    const bench = run("bench.mjs", "--help")
    expect([bench.status, bench.stdout.split("\n")[0]]).toEqual([0, "Usage: npm run bench   (node scripts/bench.mjs after npm run build)"])
    expect(bench.stdout).toContain("BENCH_PHASES")
    const interleave = run("interleave.mjs", "--help")
    expect(interleave.status).toBe(0)
    expect(interleave.stdout).toMatch(/^Usage: node scripts\/interleave\.mjs /)
  })

  it("an unknown option is refused with the usage", () => {
    const bench = run("bench.mjs", "--bogus")
    expect([bench.status, bench.stderr.split("\n")[0]]).toEqual([1, "Unknown option '--bogus'"])
    const interleave = run("interleave.mjs", "--bogus", "ref")
    expect([interleave.status, interleave.stderr.split("\n")[0]]).toEqual([2, "unknown option --bogus"])
  })
})
