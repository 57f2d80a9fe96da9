/** The benchmark scripts' command lines: `--help` runs nothing, and an unknown option is refused before a server starts. */
import { spawn, spawnSync } from "node:child_process"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { alive, childEnv, freePort, processTree } from "../support/process.js"
import { until } from "../support/serverless.js"

const script = (name: string) => fileURLToPath(new URL(`../../scripts/${name}`, import.meta.url))
const run = (name: string, ...args: ReadonlyArray<string>) => spawnSync(process.execPath, [script(name), ...args], { encoding: "utf8", timeout: 10_000 })

describe("scripts/bench.mjs, interleave.mjs, protocol-floor.mjs, cycles.mjs and full-cpu.mjs", () => {
  it("bench.mjs killed outright mid-phase leaves no worker running: each it starts stops once the bench is gone (review 37 L5)", async () => {
    const bench = spawn(process.execPath, [script("bench.mjs")], { env: { ...process.env, BENCH_PHASES: "rss" }, stdio: ["ignore", "pipe", "ignore"] })
    let worker = 0
    try {
      worker = await until("the bench's worker", () => processTree(bench.pid ?? 0)[0], 20_000)
      bench.kill("SIGKILL")
      // Its parent's loss noticed within a second, then its stop, whose last report finds nobody (4.2 s seen at a load
      // average of 10). A worker that never noticed would never stop.
      await until("the worker to stop", () => (alive(worker) ? undefined : true), 30_000)
    } finally {
      if (bench.exitCode === null) bench.kill("SIGKILL")
      if (worker !== 0 && alive(worker)) process.kill(worker, "SIGKILL")
    }
  }, 60_000)

  it("--help prints the usage and exits 0, starting nothing", () => {
    const bench = run("bench.mjs", "--help")
    expect([bench.status, bench.stdout.split("\n")[0]]).toEqual([0, "Usage: npm run bench   (node scripts/bench.mjs after npm run build)"])
    expect(bench.stdout).toContain("BENCH_PHASES")
    const interleave = run("interleave.mjs", "--help")
    expect(interleave.status).toBe(0)
    expect(interleave.stdout).toMatch(/^Usage: node scripts\/interleave\.mjs /)
    const floor = run("protocol-floor.mjs", "--help")
    expect([floor.status, floor.stdout.split("\n")[0]]).toEqual([0, "Usage: WORKER_PORT=N NULL_CONTROL_PORT=N node scripts/protocol-floor.mjs"])
    const cycles = run("cycles.mjs", "--help")
    expect([cycles.status, cycles.stdout.split("\n")[0]]).toEqual([0, "Usage: node scripts/cycles.mjs URL [N]"])
    const fullCpu = run("full-cpu.mjs", "--help")
    expect([fullCpu.status, fullCpu.stdout.split("\n")[0]]).toEqual([0, "Usage: node scripts/full-cpu.mjs [--rounds N] [--phases N] [--answers N] [SERVER...]"])
  })

  it("full-cpu.mjs refuses an unknown option or a count below its minimum before it starts a server: the rule, the usage, exit 1", () => {
    const unknown = run("full-cpu.mjs", "--bogus")
    expect([unknown.status, unknown.stderr.split("\n")[0]]).toEqual([1, "Unknown option '--bogus'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- \"--bogus\""])
    for (const [flag, value, min] of [["--rounds", "0", 1], ["--phases", "1.5", 1], ["--answers", "4", 8]] as const) {
      const refused = run("full-cpu.mjs", flag, value)
      expect([refused.status, refused.stderr.split("\n")[0]]).toEqual([1, `${flag} must be a whole number of at least ${min}, not "${value}"`])
      expect(refused.stderr).toContain("Usage: node scripts/full-cpu.mjs")
    }
    const missing = run("full-cpu.mjs", "/nonexistent/main.js")
    expect([missing.status, missing.stderr]).toEqual([1, "full-cpu.mjs: /nonexistent/main.js does not exist (npm run build makes dist/main.js)\n"])
  })

  it("protocol-floor.mjs without its ports, and cycles.mjs without a URL, say so with the usage, exit 1, no stack", () => {
    const floor = spawnSync(process.execPath, [script("protocol-floor.mjs")], { encoding: "utf8", timeout: 10_000, env: childEnv() })
    expect([floor.status, floor.stderr.split("\n")[0]]).toEqual([1, 'WORKER_PORT must be a port number, not ""'])
    for (const args of [[], ["not a url"], ["localhost:8080"], ["http://127.0.0.1:1", "1.5"]]) {
      const cycles = run("cycles.mjs", ...args)
      expect([cycles.status, cycles.stderr.split("\n")[0]], args.join(" ")).toEqual([1, "cycles.mjs: needs a worker URL (http://…) and, optionally, a whole number of cycles"])
      expect(cycles.stderr).not.toContain("    at ")
    }
  })

  it("cycles.mjs against a server that is not a worker's public port: one line naming the status, exit 1, no figure", async () => {
    const server = createServer((_, response) => response.writeHead(404).end("{}"))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const cycles = spawn(process.execPath, [script("cycles.mjs"), url, "5"], { stdio: ["ignore", "pipe", "pipe"] })
      let output = ""
      cycles.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
      cycles.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
      expect(await new Promise((resolve) => cycles.once("exit", resolve))).toBe(1)
      expect(output).toBe(`cycles.mjs: ${url}: /session/create answered 404, not 201 (a worker's public port, with UNSECURED=true?)\n`)
    } finally {
      server.close()
    }
  })

  it("cycles.mjs against a port where no worker listens: one line naming the error, exit 1", async () => {
    const url = `http://127.0.0.1:${await freePort()}`
    const cycles = run("cycles.mjs", url, "5")
    expect([cycles.status, cycles.stderr]).toEqual([1, `cycles.mjs: ${url}: ECONNREFUSED\n`])
  })

  it("an unknown option is refused with the usage", () => {
    const bench = run("bench.mjs", "--bogus")
    expect([bench.status, bench.stderr.split("\n")[0]]).toEqual([1, "Unknown option '--bogus'"])
    const interleave = run("interleave.mjs", "--bogus", "ref")
    expect([interleave.status, interleave.stderr.split("\n")[0]]).toEqual([2, "unknown option --bogus"])
  })
})
