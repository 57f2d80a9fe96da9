import { createServer, type Server, type Socket } from "node:net"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { spawnProcess, type Spawned } from "../support/process.js"

const dist = (file: string) => fileURLToPath(new URL(`../../dist/${file}`, import.meta.url))
// Sends the signal the moment the loader starts reading the program's bundle.
const preload = fileURLToPath(new URL("../support/stopWhileBundleLoads.mjs", import.meta.url))

const running: Array<Spawned> = []
const servers: Array<Server> = []
const sockets = new Set<Socket>()
afterEach(async () => {
  for (const server of servers.splice(0)) {
    for (const socket of sockets) socket.destroy()
    await new Promise((done) => server.close(done))
  }
  for (const spawned of running.splice(0)) {
    if (spawned.child.exitCode === null && spawned.child.signalCode === null) spawned.child.kill("SIGKILL")
    await spawned.exited
  }
})

const started = (file: string, args: ReadonlyArray<string>, env: Record<string, string>) => {
  const spawned = spawnProcess(process.execPath, ["--import", preload, dist(file), ...args], env)
  running.push(spawned)
  return spawned
}

describe("a stop signal while a command-line program's bundle loads (newcomer 36 #9)", () => {
  it("the demo takes a Ctrl-C then as any other: it stops what it started, says so, exits 130", async () => {
    const demo = started("demo.js", [], { STOP_SIGNAL: "SIGINT" })
    expect(await demo.exited, demo.output()).toBe(130)
    expect(demo.output()).toMatch(/^interrupted: stopped the serverless \(exit \w+\)$/m)
  }, 60_000)

  it("the client takes a SIGTERM then as any other: one interrupted line, its summary, exit 143; a SIGHUP, exit 129", async () => {
    // A server that takes connections and never answers: the lookup is still on when the stop comes.
    const silent = createServer((socket) => {
      sockets.add(socket.on("error", () => {}))
    })
    servers.push(silent)
    const url = await new Promise<string>((done) => silent.listen(0, "127.0.0.1", () => done(`http://127.0.0.1:${(silent.address() as { port: number }).port}`)))
    for (const [signal, status] of [["SIGTERM", 143], ["SIGHUP", 129]] as const) {
      const client = started("client.js", ["--endpoint", "null-local", "--autoscaler-url", url, "--webserver-url", url], {
        STOP_SIGNAL: signal,
        VAST_API_KEY: "local"
      })
      expect(await client.exited, client.output()).toBe(status)
      expect(client.output()).toContain("interrupted: no new reservations; ending any open sessions before exiting")
      expect(client.output()).toContain("done (interrupted): 0 created")
    }
  }, 60_000)
})
