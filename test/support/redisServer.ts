import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort, type Spawned, spawnProcess } from "./process.js"

/** Whether `redis-server` can be run here. */
export const hasRedis = (() => {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

/** Skip when redis-server is missing, except in CI (CI installs it: a missing one must fail there). */
export const skipWithoutRedis = (what: string): boolean => {
  const skip = !hasRedis && process.env["CI"] === undefined
  if (skip) process.stdout.write(`${what} skipped: redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)\n`)
  return skip
}

export interface RunningRedis {
  readonly url: string
  readonly port: number
  readonly process: Spawned
  /** SIGTERM, wait for the exit, remove its directory. */
  stop(): Promise<void>
}

/** A redis-server on a free loopback port, in a temporary directory, persisting nothing. */
export const startRedis = async (): Promise<RunningRedis> => {
  const dir = mkdtempSync(join(tmpdir(), "null-worker-redis-"))
  const port = await freePort()
  const spawned = spawnProcess("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""], {})
  await spawned.waitFor(/Ready to accept connections/, 20_000)
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: spawned,
    stop: async () => {
      if (spawned.child.exitCode === null && spawned.child.signalCode === null) {
        spawned.child.kill("SIGTERM")
        await spawned.exited
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
