import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

export const mainJs = fileURLToPath(new URL("../../dist/main.js", import.meta.url))

/** A loopback port that was free a moment ago (the OS picks it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export interface Spawned {
  readonly child: ChildProcess
  /** Everything the process printed so far (stdout and stderr). */
  output(): string
  /** Resolves when the output contains `text`; rejects if the process exits first or `ms` pass. */
  waitFor(text: string, ms?: number): Promise<void>
  /** Resolves with the exit code. */
  exited: Promise<number | null>
}

/** Start `node dist/main.js` with `env` added to a minimal environment. */
export const spawnWorker = (env: Record<string, string>): Spawned => {
  const child = spawn(process.execPath, [mainJs], {
    env: { PATH: process.env["PATH"] ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    output += chunk.toString("utf8")
    for (const listener of listeners) listener()
  }
  child.stdout?.on("data", onData)
  child.stderr?.on("data", onData)
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const waitFor = (text: string, ms = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (output.includes(text)) {
          listeners.delete(check)
          clearTimeout(timer)
          resolve()
        }
      }
      const timer = setTimeout(() => {
        listeners.delete(check)
        reject(new Error(`timed out waiting for "${text}"; output:\n${output}`))
      }, ms)
      void exited.then(() => {
        if (!output.includes(text)) reject(new Error(`exited before "${text}"; output:\n${output}`))
      })
      listeners.add(check)
      check()
    })
  return { child, output: () => output, waitFor, exited }
}
