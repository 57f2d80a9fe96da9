/**
 * The local serverless, the client and the demo, like the worker (`shutdown.test.ts`), wait for a reader that is behind
 * on their stdout pipe before they exit (review 42 L2): what they wrote last reaches it.
 *
 * The pipe is filled before the program starts, so every byte the program writes waits in the program; the test reads
 * it only once the program has handed its last line to stdout (seen through `stdoutCopy.mjs`). A program that exited
 * then would have dropped all it wrote.
 */
import { execFileSync } from "node:child_process"
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs"
import { Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { OUTPUT_BACKLOG_MAX } from "../../src/shared/boundedOutput.js"
import { clientJs } from "../client/spawnClient.js"
import { killLeftovers, type Spawned, spawnProcess } from "../support/process.js"
import { type RunningServerless, serverlessJs, startServerless, until } from "../support/serverless.js"

const demoJs = fileURLToPath(new URL("../../dist/demo.js", import.meta.url))
const stdoutCopy = fileURLToPath(new URL("../support/stdoutCopy.mjs", import.meta.url))

const dirs: Array<string> = []
const sockets: Array<Socket> = []
const planes: Array<RunningServerless> = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  killLeftovers()
  for (const plane of planes.splice(0)) await plane.stop()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A FIFO the kernel holds full: its read end (non-blocking), a write end for the program, and the filler's bytes. */
const fullPipe = () => {
  const dir = mkdtempSync(join(tmpdir(), "behind-pipe-"))
  dirs.push(dir)
  const fifo = join(dir, "output")
  execFileSync("mkfifo", [fifo])
  const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
  const writeEnd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)
  const piece = Buffer.alloc(4096, "f")
  let filler = 0
  for (;;) {
    try {
      filler += writeSync(writeEnd, piece)
    } catch {
      // EAGAIN: the pipe is full.
      break
    }
  }
  return { dir, readEnd, writeEnd, filler }
}

/**
 * Starts `args` (a script and its options) with its stdout on a full pipe, lets `stop` end it, waits until it has
 * handed a line matching `last` to stdout, then reads the pipe to its end: the exit status, what the program wrote and
 * what the reader got after the filler.
 */
const behindPipe = async (args: ReadonlyArray<string>, env: Record<string, string>, last: RegExp, stop: (program: Spawned, written: () => string) => Promise<void>) => {
  const pipe = fullPipe()
  const program = spawnProcess(process.execPath, [`--import=${stdoutCopy}`, ...args], { ...env, NULL_TEST_STDOUT_COPY: pipe.dir }, pipe.writeEnd)
  closeSync(pipe.writeEnd)
  const copy = join(pipe.dir, String(program.child.pid))
  const written = () => (existsSync(copy) ? readFileSync(copy, "utf8") : "")
  await stop(program, written)
  // Looked at every 50 ms: a program that did not wait would be gone by then, and what it wrote with it.
  await until(`the last line (${String(last)})`, () => (last.test(written()) ? true : undefined), 60_000)
  const reader = new Socket({ fd: pipe.readEnd, readable: true, writable: false })
  sockets.push(reader)
  const chunks: Array<Buffer> = []
  reader.on("data", (chunk: Buffer) => chunks.push(chunk))
  await new Promise((resolve) => reader.once("end", resolve))
  const status = await program.exited
  return { status, written: written(), received: Buffer.concat(chunks).subarray(pipe.filler).toString("utf8"), stderr: program.output() }
}

describe("a reader behind on the program's stdout still gets its last lines: the exit waits for it", () => {
  it("the local serverless stopped by SIGTERM: every line up to stopped, exit 0", async () => {
    const run = await behindPipe([serverlessJs, "--port", "0", "--api-key", "k"], {}, /message="stopped"\n$/, async (program, written) => {
      await until("the serverless listening", () => (written().includes("serverless listening on") ? true : undefined))
      program.child.kill("SIGTERM")
    })
    expect(run.status, run.stderr).toBe(0)
    expect(run.received).toBe(run.written)
    expect(run.received).toMatch(/message="stopping: 0 worker\(s\)"\n.*message="stopped"\n$/)
  })

  it("the client's doctor: its whole JSON report, exit 1 for the risky settings", async () => {
    const plane = await startServerless([])
    planes.push(plane)
    const run = await behindPipe(
      [clientJs, "doctor", "--json", "--endpoint", "null-local", "--webserver-url", plane.url],
      { VAST_API_KEY: "k" },
      /"findings":.*\}\s*$/s,
      async () => undefined
    )
    expect(run.status, run.stderr).toBe(1)
    expect(run.received).toBe(run.written)
    expect(JSON.parse(run.received)).toMatchObject({ ok: false, endpoint: { name: "null-local" } })
  })

  it("the demo stopped by SIGTERM during its plateau: every line up to the stopped serverless, exit 143", async () => {
    // A demo that succeeds ends with its event loop, once Node has handed the pipe what it holds; after a signal (or
    // with a failure's status) the runtime calls process.exit, which drops it.
    const run = await behindPipe([demoJs, "--count", "1", "--plateau", "60"], {}, /interrupted: stopped the serverless \(exit 0\)\n$/, async (program, written) => {
      await until("the session", () => (written().includes("#1 created session") ? true : undefined), 60_000)
      program.child.kill("SIGTERM")
    })
    expect(run.status, run.stderr).toBe(143)
    expect(run.received).toBe(run.written)
    expect(run.received).toMatch(/#1 created session[\s\S]*interrupted: stopped the client \(exit 143\)\n/)
  }, 90_000)

  it("the local serverless with --verbose, beside a sidecar that floods its output: lines are dropped past 8 MiB unread, not held, and said once the reader caught up (probe 40 M1)", async () => {
    const pipe = fullPipe()
    const flooded = join(pipe.dir, "flooded")
    // 30 MB in lines of 1,000 bytes, then the sidecar stays, as a consumer does.
    const sidecar = `head -c 30000000 /dev/zero | tr '\\0' x | fold -w 999; touch ${flooded}; exec sleep 600`
    const args = [`--import=${stdoutCopy}`, serverlessJs, "--port", "0", "--api-key", "k", "--recommended", "--min-load", "100", "--verbose", "--sidecar", sidecar]
    const program = spawnProcess(process.execPath, args, { NULL_TEST_STDOUT_COPY: pipe.dir }, pipe.writeEnd)
    closeSync(pipe.writeEnd)
    const copy = join(pipe.dir, String(program.child.pid))
    await until("the sidecar's flood", () => (existsSync(flooded) ? true : undefined), 60_000)
    // All but what the sidecar's pipe holds (64 KiB) was read from it: about 8 MiB of it kept, the rest dropped.
    const kept = statSync(copy).size
    expect(kept).toBeLessThan(OUTPUT_BACKLOG_MAX + 2_000_000)
    const reader = new Socket({ fd: pipe.readEnd, readable: true, writable: false })
    sockets.push(reader)
    let received = 0
    const chunks: Array<Buffer> = []
    reader.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
      received += chunk.length
    })
    await until("the reader to catch up", () => (received >= pipe.filler + kept ? true : undefined), 60_000)
    // The stop's lines (the worker's, echoed) come after the reader caught up: the notice goes first.
    program.child.kill("SIGTERM")
    await new Promise((resolve) => reader.once("end", resolve))
    expect(await program.exited, program.output()).toBe(0)
    const text = Buffer.concat(chunks).subarray(pipe.filler).toString("utf8")
    expect(text).toBe(readFileSync(copy, "utf8"))
    expect(text).toMatch(/\n\d+ lines were dropped: the output's reader was more than 8388608 bytes behind\n/)
    expect(text).toMatch(/message="stopped"\n$/)
  }, 120_000)
})
