import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { fileURLToPath } from "node:url"

export const mainJs = fileURLToPath(new URL("../../dist/main.js", import.meta.url))

/** The environment a test's program starts from: a PATH, and the run's temporary directory (`testTmpdir.ts`). */
export const childEnv = (): Record<string, string> => ({ PATH: process.env["PATH"] ?? "", TMPDIR: tmpdir() })

/** Ports this test process handed out: never handed out twice. */
const handedOut = new Set<number>()

/**
 * Where this test file's ports come from. Files run two at a time, each in its own process: ports the OS picks (port 0)
 * can be offered to both a moment apart, and a worker of one file then found its port taken by the other's (a flake
 * seen once in CI). Each of the two pools gets its own range instead, below the kernel's ephemeral range (32768 and
 * up on Linux), from which port 0 and outgoing connections draw, so no other test's socket can take one.
 */
const POOL_RANGE = 10_000
const poolBase = (): number => 11_000 + ((Number(process.env["VITEST_POOL_ID"] ?? "1") - 1) % 2) * POOL_RANGE

/** Whether `port` can be bound on every address now (a worker binds its public port on 0.0.0.0). */
const bindable = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "0.0.0.0", () => server.close(() => resolve(true)))
  })

/**
 * A port free a moment ago, from this file's pool's range, and never one this process handed out before:
 * `[await freePort(), await freePort()]` once gave the same port twice, and a worker then waited for ever to
 * bind its control port on its own public port.
 */
export const freePort = async (): Promise<number> => {
  for (;;) {
    const port = poolBase() + Math.floor(Math.random() * POOL_RANGE)
    if (handedOut.has(port) || !(await bindable(port))) continue
    handedOut.add(port)
    return port
  }
}

export interface Spawned {
  readonly child: ChildProcess
  /** Everything the process printed so far (stdout and stderr). */
  output(): string
  /** Resolves with the match once the output contains `pattern`; rejects if the process exits first or `ms` pass. */
  waitFor(pattern: string | RegExp, ms?: number): Promise<ReadonlyArray<string>>
  /** Resolves with the exit code. */
  exited: Promise<number | null>
}

/** Every process `spawnProcess` started in this test file, for `killLeftovers`. */
const spawnedInFile = new Set<ChildProcess>()

/**
 * Kills what a test file started and left running: a test that fails before its own clean-up (an assertion on a
 * process that was meant to exit and did not) must not leave it running for the rest of the suite, or after it. The
 * process itself: what it started in turn stops with it where it watches its parent (the serverless' workers, the
 * sidecar runner), not when a shell's background jobs outlive the shell.
 */
export const killLeftovers = (): void => {
  for (const child of spawnedInFile) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  spawnedInFile.clear()
}

/**
 * Start `command args` with `env` added to a minimal environment, collecting its output. `stdout`: a file descriptor
 * the process writes its output to, instead of the pipe `output()` reads (stderr only, then).
 */
export const spawnProcess = (command: string, args: ReadonlyArray<string>, env: Record<string, string>, stdout?: number): Spawned => {
  const child = spawn(command, [...args], {
    env: { ...childEnv(), ...env },
    stdio: ["ignore", stdout ?? "pipe", "pipe"]
  })
  spawnedInFile.add(child)
  child.once("exit", () => spawnedInFile.delete(child))
  let output = ""
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    output += chunk.toString("utf8")
    for (const listener of listeners) listener()
  }
  child.stdout?.on("data", onData)
  child.stderr?.on("data", onData)
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const find = (pattern: string | RegExp): ReadonlyArray<string> | null =>
    typeof pattern === "string" ? (output.includes(pattern) ? [pattern] : null) : pattern.exec(output)
  const waitFor = (pattern: string | RegExp, ms = 10_000) =>
    new Promise<ReadonlyArray<string>>((resolve, reject) => {
      const check = () => {
        const match = find(pattern)
        if (match === null) return
        listeners.delete(check)
        clearTimeout(timer)
        resolve(match)
      }
      const timer = setTimeout(() => {
        listeners.delete(check)
        reject(new Error(`timed out waiting for ${String(pattern)}; output:\n${output.slice(-3000)}`))
      }, ms)
      void exited.then(() => {
        if (find(pattern) === null) reject(new Error(`exited before ${String(pattern)}; output:\n${output.slice(-3000)}`))
      })
      listeners.add(check)
      check()
    })
  return { child, output: () => output, waitFor, exited }
}

/** Whether process `pid` exists (a zombie counts). */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Every process's pid, parent pid and process group, from `ps` (Linux and macOS). */
const processTable = (): ReadonlyArray<{ readonly pid: number; readonly ppid: number; readonly pgid: number }> =>
  execFileSync("ps", ["-A", "-o", "pid=,ppid=,pgid="], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const [pid = 0, ppid = 0, pgid = 0] = line.trim().split(/\s+/).map(Number)
      return { pid, ppid, pgid }
    })

/** The processes below `root` (children, their children, …). */
export const processTree = (root: number): ReadonlyArray<number> => {
  const rows = processTable()
  const below = (pid: number): ReadonlyArray<number> => rows.filter((row) => row.ppid === pid).flatMap((row) => [row.pid, ...below(row.pid)])
  return below(root)
}

/** The processes in process group `pgid`, wherever their parents are. */
export const processGroup = (pgid: number): ReadonlyArray<number> => processTable().filter((row) => row.pgid === pgid).map((row) => row.pid)

/** Start `node dist/main.js` with `env` added to a minimal environment. */
export const spawnWorker = (env: Record<string, string>, stdout?: number): Spawned => spawnProcess(process.execPath, [mainJs], env, stdout)
