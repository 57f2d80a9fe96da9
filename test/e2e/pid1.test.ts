/**
 * The programs as PID 1 of a PID namespace, as in a container started without `--init`: there the kernel drops the
 * default action of a signal with no handler, so a default the programs rely on must be taken by hand (probe 58 #6).
 * `unshare` makes the namespace (root, as CI runs).
 */
import { execFileSync } from "node:child_process"
import { createServer, type Server, type Socket } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { fileURLToPath } from "node:url"
import { mainJs, spawnProcess, type Spawned } from "../support/process.js"
import { autoscalerPerTest, workerEnv } from "../support/workerProcess.js"

const clientJs = fileURLToPath(new URL("../../dist/client.js", import.meta.url))
const autoscaler = autoscalerPerTest()
const running: Array<Spawned> = []
/** The programs' pids outside their namespaces: killed at the end too, as PID 1 may ignore what its launcher's end sends. */
const inner: Array<number> = []
const servers: Array<Server> = []
const sockets = new Set<Socket>()
afterEach(async () => {
  for (const pid of inner.splice(0)) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // Already ended.
    }
  }
  for (const spawned of running.splice(0)) {
    if (spawned.child.exitCode === null && spawned.child.signalCode === null) spawned.child.kill("SIGKILL")
    await spawned.exited
  }
  for (const server of servers.splice(0)) {
    for (const socket of sockets) socket.destroy()
    await new Promise((done) => server.close(done))
  }
})

/** `node …args` as PID 1 of a new PID namespace; with the pid the program has outside it, for signals. */
const asPid1 = async (args: ReadonlyArray<string>, env: Record<string, string>) => {
  // --kill-child: the program goes with its launcher, also when a test fails before it ends.
  const launcher = spawnProcess("unshare", ["--fork", "--pid", "--mount-proc", "--kill-child", process.execPath, ...args], env)
  running.push(launcher)
  for (let tries = 0; tries < 200; tries++) {
    const found = (() => {
      try {
        return Number(execFileSync("pgrep", ["-P", String(launcher.child.pid)], { encoding: "utf8" }).trim().split("\n")[0])
      } catch {
        return 0
      }
    })()
    if (found > 0) {
      inner.push(found)
      return { launcher, pid: found }
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`no program under unshare: ${launcher.output()}`)
}

/** The exit status, or "still running" after `ms`. */
const exitWithin = (spawned: Spawned, ms: number) =>
  Promise.race([spawned.exited, new Promise<string>((resolve) => setTimeout(() => resolve("still running"), ms))])

describe("as PID 1 (a container without --init)", () => {
  it("the worker ends on SIGQUIT, exit 131, as its default does elsewhere (probe 58 #6: it served on)", async () => {
    const { env } = await workerEnv(autoscaler())
    const { launcher, pid } = await asPid1([mainJs], env)
    await launcher.waitFor(/[Ww]orker started/, 20_000)
    process.kill(pid, "SIGQUIT")
    expect(await exitWithin(launcher, 5_000), launcher.output()).toBe(131)
  }, 40_000)

  it("the client quits on SIGQUIT, exit 131, after naming what it leaves (probe 58 #6: it said it quit and pinged on)", async () => {
    // A server that takes connections and never answers: the client is still looking its endpoint up.
    const silent = createServer((socket) => void sockets.add(socket.on("error", () => {})))
    servers.push(silent)
    const url = await new Promise<string>((done) => silent.listen(0, "127.0.0.1", () => done(`http://127.0.0.1:${(silent.address() as { port: number }).port}`)))
    const { launcher, pid } = await asPid1([clientJs, "--endpoint", "null-local", "--autoscaler-url", url, "--webserver-url", url], { VAST_API_KEY: "local" })
    await new Promise<void>((resolve) => (sockets.size > 0 ? resolve() : silent.once("connection", () => resolve())))
    process.kill(pid, "SIGQUIT")
    expect(await exitWithin(launcher, 5_000), launcher.output()).toBe(131)
  }, 40_000)
})
