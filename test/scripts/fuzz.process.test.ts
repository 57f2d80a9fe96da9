/**
 * `npm run fuzz`'s command line: `--help` says what it does (it rewrites a tracked file) without running anything,
 * and a bad `--runs` is refused before the hours-long run starts.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const fuzz = fileURLToPath(new URL("../../scripts/fuzz.mjs", import.meta.url))
const run = (...args: ReadonlyArray<string>) => spawnSync(process.execPath, [fuzz, ...args], { encoding: "utf8", timeout: 10_000 })

describe("scripts/fuzz.mjs", () => {
  it("--help prints the usage, names the file --write-docs rewrites, and exits 0", () => {
    const help = run("--help")
    expect(help.status).toBe(0)
    expect(help.stdout).toContain("usage: npm run fuzz -- [--runs N] [--write-docs]")
    expect(help.stdout).toContain("docs/reliability.md")
  })

  it("a --runs that is not a whole number above 0, or an unknown option, is refused with the usage: exit 1", () => {
    for (const args of [["--runs", "x"], ["--runs", "0"], ["--runs", "1e3"], ["--bogus"]]) {
      const refused = run(...args)
      expect(refused.status, args.join(" ")).toBe(1)
      expect(refused.stderr, args.join(" ")).toContain("usage: npm run fuzz")
    }
  })

  it("tests that write no figures (here vitest cannot even start) are said in one line, exit 1, and leave nothing in the temporary directory (review 42 I5)", () => {
    const dir = mkdtempSync(join(tmpdir(), "fuzz-test-"))
    try {
      const failed = spawnSync(process.execPath, [fuzz, "--runs", "1"], { encoding: "utf8", timeout: 10_000, env: { PATH: "", TMPDIR: dir } })
      expect(failed.status).toBe(1)
      expect(failed.stderr).toContain("fuzz: the property tests wrote no figures (vitest exit null: ENOENT)")
      expect(readdirSync(dir)).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
