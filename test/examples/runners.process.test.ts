/** The example runners' command lines: a help page with defaults, and one line for a bad value, before anything starts. */
import { spawnSync } from "node:child_process"
import { createServer } from "node:http"
import { type AddressInfo, createServer as createNetServer } from "node:net"
import { chmodSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { childEnv, freePort, spawnProcess } from "../support/process.js"

const dist = (file: string) => fileURLToPath(new URL(`../../dist/${file}`, import.meta.url))
const run = (file: string, ...args: ReadonlyArray<string>) =>
  spawnSync(process.execPath, [dist(file), ...args], { encoding: "utf8", timeout: 20_000, env: childEnv() })

/** The first whole RESP command (an array of bulk strings) in `text`: its upper-cased name and its length, or null. */
const nextCommand = (text: string): { readonly name: string; readonly length: number } | null => {
  const head = /^\*(\d+)\r\n/.exec(text)
  if (head === null) return null
  let at = head[0].length
  let name = ""
  for (let i = 0; i < Number(head[1]); i++) {
    const size = /^\$(\d+)\r\n/.exec(text.slice(at))
    if (size === null) return null
    const start = at + size[0].length
    const end = start + Number(size[1])
    if (text.length < end + 2) return null
    if (i === 0) name = text.slice(start, end).toUpperCase()
    at = end + 2
  }
  return { name, length: at }
}

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
    ["examples/redis-dispatcher.js", ["--jobs-file", "/nonexistent.json"], '--jobs-file must name a file, and there is none at "/nonexistent.json"'],
    ["examples/redis-dispatcher.js", ["--callback-url", "ftp://x"], "--callback-url must be an absolute http(s) URL"],
    ["examples/redis-dispatcher.js", ["--callback-url", "http://127.0.0.1:0"], "--callback-url must not use port 0 (no server listens there)"]
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
        ["nope\n", `Unexpected token 'o', \\"nope\\\\x0a\\" is not valid JSON`],
        ['[{"job_id":"j-a","input":"x"},{"job_id":"j-b","input":"y"},{"job_id":"j-a","input":"z"}]', 'job_id \\"j-a\\" is given twice (jobs 0 and 2): a job is done once, by its id']
      ] as const) {
        const file = join(dir, "jobs.json")
        writeFileSync(file, text)
        // Redis and the serverless on a port where nothing listens: reaching either would say so.
        const refused = run("examples/redis-dispatcher.js", "--jobs-file", file, "--redis-url", "redis://127.0.0.1:1", "--autoscaler-url", "http://127.0.0.1:1", "--webserver-url", "http://127.0.0.1:1")
        expect(refused.status).toBe(1)
        expect(refused.stdout + refused.stderr).toContain(`message="--jobs-file ${file}: ${problem} (a JSON array of`)
        expect(refused.stdout + refused.stderr).not.toMatch(/redis:|ECONNREFUSED/)
      }
      // A wrong path to something huge (sparse here: its size is what counts) is refused unread.
      const huge = join(dir, "huge.json")
      writeFileSync(huge, "")
      truncateSync(huge, 64 * 1024 * 1024 + 1)
      const refused = run("examples/redis-dispatcher.js", "--jobs-file", huge, "--redis-url", "redis://127.0.0.1:1", "--autoscaler-url", "http://127.0.0.1:1", "--webserver-url", "http://127.0.0.1:1")
      expect([refused.status, refused.stdout + refused.stderr]).toEqual([1, expect.stringContaining(`message="--jobs-file ${huge}: larger than 64 MiB"`)])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("the Redis examples' own listeners and Redis addresses", () => {
  /** A port held by a listener of this test's process, for as long as `use` runs. */
  const withPortTaken = async <A>(use: (port: number) => A): Promise<A> => {
    const server = createServer()
    await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening))
    try {
      return use((server.address() as AddressInfo).port)
    } finally {
      server.close()
    }
  }
  const runWith = (file: string, env: Record<string, string>, ...args: ReadonlyArray<string>) =>
    spawnSync(process.execPath, [dist(file), ...args], { encoding: "utf8", timeout: 20_000, env: { ...childEnv(), ...env } })
  // Redis on a port where nothing listens: a program that got past the check would only retry it.
  const nowhere = "redis://127.0.0.1:1"

  it("a callback port already taken: the dispatcher says so in one line naming --callback-port, exit 1", async () => {
    const refused = await withPortTaken((port) =>
      runWith("examples/redis-dispatcher.js", { VAST_API_KEY: "local" }, "--redis-url", nowhere, "--autoscaler-url", "http://127.0.0.1:1", "--webserver-url", "http://127.0.0.1:1", "--callback-port", String(port))
    )
    expect(refused.status).toBe(1)
    expect(refused.stdout + refused.stderr).toMatch(/message="callbacks: port \d+ is already in use \(EADDRINUSE\); pick another with --callback-port"/)
  })

  it.each(["examples/redis-consumer.js", "examples/autoscale-consumer.js"])("%s: a SIDECAR_PORT already taken is one line naming it, exit 1", async (file) => {
    const refused = await withPortTaken((port) => runWith(file, { REDIS_URL: nowhere, SIDECAR_PORT: String(port) }))
    expect(refused.status).toBe(1)
    expect(refused.stderr).toMatch(/^consumer: SIDECAR_PORT: port \d+ is already in use \(EADDRINUSE\); pick another with SIDECAR_PORT\n$/)
  })

  it.each(["examples/redis-consumer.js", "examples/autoscale-consumer.js"])("%s: a REDIS_URL of another scheme is refused in one line, exit 1", (file) => {
    const refused = runWith(file, { REDIS_URL: "http://x" })
    expect(refused.status).toBe(1)
    expect(refused.stderr).toBe("consumer: REDIS_URL: must be a redis://, rediss:// or unix:// URL (or host:port), not another scheme\n")
  })

  it("the dispatcher listening on a wildcard address without --callback-url warns that workers cannot reach it there; with one, it does not", () => {
    const base = ["--callback-port", "0", "--redis-url", nowhere, "--autoscaler-url", "http://127.0.0.1:1", "--webserver-url", "http://127.0.0.1:1"]
    const warning = "--callback-host 0.0.0.0 listens on every address, but is no address workers can reach: give --callback-url"
    const bare = runWith("examples/redis-dispatcher.js", { VAST_API_KEY: "local" }, "--callback-host", "0.0.0.0", ...base)
    expect(bare.stdout).toContain(warning)
    const given = runWith("examples/redis-dispatcher.js", { VAST_API_KEY: "local" }, "--callback-host", "0.0.0.0", "--callback-url", "http://203.0.113.7:8000", ...base)
    expect(given.stdout).toContain("workers post to http://203.0.113.7:8000/closed")
    expect(given.stdout).not.toContain("listens on every address")
  })

  it("the dispatcher refuses a --redis-url of another scheme before anything starts", () => {
    const refused = runWith("examples/redis-dispatcher.js", { VAST_API_KEY: "local" }, "--redis-url", "http://x")
    expect(refused.status).toBe(1)
    expect(refused.stdout + refused.stderr).toContain('message="--redis-url must be a redis://, rediss:// or unix:// URL (or host:port), not another scheme"')
  })

  it("the autoscale consumer refuses an IDLE_GRACE or CLAIM_MIN_IDLE below 0 or not finite, naming each", () => {
    const refused = runWith("examples/autoscale-consumer.js", { REDIS_URL: nowhere, IDLE_GRACE: "Infinity", CLAIM_MIN_IDLE: "-5" })
    expect(refused.status).toBe(1)
    expect(refused.stderr).toBe("consumer: IDLE_GRACE: must be a finite number of seconds, 0 or more\nconsumer: CLAIM_MIN_IDLE: must be a finite number of seconds, 0 or more\n")
  })

  it("the autoscale consumer reads its numbers as the worker does: set but empty, in hex or with an exponent for a port, is refused (review 43 L5)", () => {
    const refused = runWith("examples/autoscale-consumer.js", { REDIS_URL: nowhere, IDLE_GRACE: "", CLAIM_MIN_IDLE: "0x10", SIDECAR_PORT: "1e3" })
    expect(refused.status).toBe(1)
    expect(refused.stderr).toBe(
      [
        "consumer: SIDECAR_PORT: must be a port number from 1 to 65535",
        "consumer: IDLE_GRACE: is set but empty: give it a value (or unset it, where it has a default)",
        "consumer: CLAIM_MIN_IDLE: must be a finite number of seconds, 0 or more",
        ""
      ].join("\n")
    )
  })

  it("the autoscale consumer whose Redis fails at start says so once, as an error event, and keeps trying", async () => {
    // A "Redis" that answers its readiness check and refuses every XGROUP: the consumer's tries can be counted, so no
    // time has to pass for the test to see that a trouble said once is not said again.
    let tries = 0
    let counted: () => void = () => undefined
    const refusing = createNetServer((socket) => {
      let pending = ""
      socket.on("data", (chunk: Buffer) => {
        pending += chunk.toString("latin1")
        for (;;) {
          const command = nextCommand(pending)
          if (command === null) return
          pending = pending.slice(command.length)
          if (command.name === "INFO") socket.write("$9\r\nloading:0\r\n")
          else if (command.name === "XGROUP") {
            socket.write("-ERR this Redis refuses XGROUP\r\n")
            tries += 1
            counted()
          } else socket.write("+OK\r\n")
        }
      })
    })
    await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve))
    const consumer = spawnProcess(process.execPath, [dist("examples/autoscale-consumer.js")], {
      REDIS_URL: `redis://127.0.0.1:${(refusing.address() as AddressInfo).port}`,
      WORKER_CONTROL_URL: "http://127.0.0.1:1",
      SIDECAR_PORT: String(await freePort())
    })
    try {
      const [line] = await consumer.waitFor(/"event":"error","operation":"create consumer group".*/, 20_000)
      expect(line).toContain("ERR this Redis refuses XGROUP")
      // Two more tries after the one said.
      const after = tries
      await new Promise<void>((resolve) => {
        counted = () => {
          if (tries >= after + 2) resolve()
        }
        counted()
      })
      expect(consumer.output().split('"operation":"create consumer group"').length - 1).toBe(1)
      expect(consumer.child.exitCode).toBeNull()
    } finally {
      consumer.child.kill("SIGTERM")
      await consumer.exited
      await new Promise((resolve) => refusing.close(resolve))
    }
  })

  it("a redis-server that is not installed, or exits at start, is one line saying which (with its last words), exit 1", () => {
    const bin = mkdtempSync(join(tmpdir(), "no-redis-"))
    try {
      // A PATH with a shell and no redis-server.
      symlinkSync("/bin/sh", join(bin, "sh"))
      const runWith = (path: string) =>
        spawnSync(process.execPath, [dist("examples/redis-example.js")], { encoding: "utf8", timeout: 20_000, env: { PATH: path } })
      const missing = runWith(bin)
      expect([missing.status, missing.stderr]).toEqual([1, "redis-server was not found: install it (Debian/Ubuntu: apt-get install redis-server)\n"])
      writeFileSync(join(bin, "redis-server"), "#!/bin/sh\necho \"# Can't chdir to '/x': Permission denied\"\nexit 1\n")
      chmodSync(join(bin, "redis-server"), 0o755)
      const failing = runWith(bin)
      expect([failing.status, failing.stderr]).toEqual([1, "redis-server did not start: # Can't chdir to '/x': Permission denied\n"])
    } finally {
      rmSync(bin, { recursive: true, force: true })
    }
  })
})
