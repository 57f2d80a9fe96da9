/** `npm run soak`'s command line: `--help` runs nothing, and a bad value is refused before a worker starts. */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const soak = fileURLToPath(new URL("../../scripts/soak.mjs", import.meta.url))
const run = (...args: ReadonlyArray<string>) => spawnSync(process.execPath, [soak, ...args], { encoding: "utf8", timeout: 10_000 })

describe("scripts/soak.mjs", () => {
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
