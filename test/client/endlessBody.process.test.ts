import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { type SpawnedClient, spawnClient } from "./spawnClient.js"

const servers: Array<Server> = []
const clients: Array<SpawnedClient> = []
afterEach(async () => {
  for (const client of clients.splice(0)) {
    if (client.child.exitCode === null && client.child.signalCode === null) client.child.kill("SIGKILL")
    await client.exited
  }
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** A control plane whose every answer is `200` and a JSON body that never ends (64 KB chunks while the socket takes them). */
const endlessServer = async (): Promise<string> => {
  const chunk = Buffer.alloc(64 * 1024, "a")
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" })
    response.write('{"results": "')
    const pump = () => {
      while (!response.destroyed && response.write(chunk));
    }
    response.on("drain", pump)
    pump()
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe("node dist/client.js against an answer without end", () => {
  it("reads at most 1 MiB: an error line naming the size, exit 1, no RangeError and no bundle dump", { timeout: 30_000 }, async () => {
    const url = await endlessServer()
    const client = spawnClient(["--endpoint", "e", "--json", "--autoscaler-url", url, "--webserver-url", url, "--hold", "1"], { VAST_API_KEY: "k" })
    clients.push(client)
    expect(await client.exited, client.stderr().slice(0, 2000)).toBe(1)
    expect(client.stderr()).not.toContain("RangeError")
    expect(client.stderr().length).toBeLessThan(2000)
    expect(client.events().filter((event) => event.event === "error")).toMatchObject([
      { operation: "endpoint lookup", message: `endpoint lookup: ${url}/api/v0/endptjobs/ answered 200: the body is larger than 1024 KB`, fatal: true }
    ])
  })
})
