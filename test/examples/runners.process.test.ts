/** The example runners' command lines: a help page with defaults, and one line for a bad value, before anything starts. */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const dist = (file: string) => fileURLToPath(new URL(`../../dist/${file}`, import.meta.url))
const run = (file: string, ...args: ReadonlyArray<string>) =>
  spawnSync(process.execPath, [dist(file), ...args], { encoding: "utf8", timeout: 20_000, env: { PATH: process.env["PATH"] ?? "" } })

describe("the example runners", () => {
  it.each([
    ["examples/redis-example.js", ["jobs N", "20"], ["work-ms MS", "300"]],
    ["examples/autoscale-example.js", ["jobs N", "120"], ["timeout SECONDS", "240"]]
  ] as const)("%s --help: every flag with its default, no ANSI codes, exit 0", (file, ...defaults) => {
    const help = run(file, "--help")
    expect(help.status).toBe(0)
    expect(help.stdout).not.toContain("\x1b")
    for (const [flag, fallback] of defaults) expect(help.stdout).toMatch(new RegExp(`^ {2}--${flag} +.* \\(default ${fallback}\\)$`, "m"))
  })

  it.each([
    ["examples/redis-example.js", ["--jobs", "abc"], "--jobs must be a number"],
    ["examples/redis-example.js", ["--jobs", "0"], "--jobs must be a whole number of at least 1"],
    ["examples/autoscale-example.js", ["--jobs", "-5"], "--jobs must be a whole number of at least 2"],
    ["examples/autoscale-example.js", ["--min-ms", "5", "--max-ms", "1"], "--max-ms must be at least --min-ms"],
    ["examples/redis-dispatcher.js", ["--jobs", "abc"], "--jobs must be a number"],
    ["examples/redis-dispatcher.js", ["--jobs", "0x10"], "--jobs must be a number"],
    ["examples/redis-dispatcher.js", ["--callback-port", "70000"], "--callback-port must be a whole number from 0 to 65535"],
    ["examples/redis-dispatcher.js", ["--jobs-file", "/nonexistent.json"], '--jobs-file: no file at "/nonexistent.json"']
  ] as const)("%s %j: one line saying what is wrong, exit 1, nothing started", (file, args, message) => {
    const refused = run(file, ...args)
    expect(refused.status).toBe(1)
    expect(refused.stdout + refused.stderr).not.toMatch(/at file:|cause=|redis-server/)
    expect(refused.stdout + refused.stderr).toBe(`${message}\n`)
  })
})

describe("the Redis dispatcher's --jobs-file", () => {
  it("a file that is not a JSON array of jobs is refused naming the file and the first problem, before Redis or the endpoint is tried", () => {
    const dir = mkdtempSync(join(tmpdir(), "jobs-file-"))
    try {
      for (const [text, problem] of [
        ['[{"job_id":1,"input":"x"}]', "0.job_id: Expected string, got 1"],
        ["nope\n", `Unexpected token 'o', \\"nope\\\\x0a\\" is not valid JSON`]
      ] as const) {
        const file = join(dir, "jobs.json")
        writeFileSync(file, text)
        // Redis and the serverless on a port where nothing listens: reaching either would say so.
        const refused = run("examples/redis-dispatcher.js", "--jobs-file", file, "--redis-url", "redis://127.0.0.1:1", "--autoscaler-url", "http://127.0.0.1:1", "--webserver-url", "http://127.0.0.1:1")
        expect(refused.status).toBe(1)
        expect(refused.stdout + refused.stderr).toContain(`message="--jobs-file ${file}: ${problem} (a JSON array of`)
        expect(refused.stdout + refused.stderr).not.toMatch(/redis:|ECONNREFUSED/)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
