/** The Redis example's programs say when Redis cannot be reached, once per reason, without the URL's password. */
import { EventEmitter } from "node:events"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import type { Redis } from "ioredis"
import { afterEach, describe, expect, it } from "vitest"
import { sayConnectionTrouble } from "../../examples/redis-queue/connectionTrouble.js"
import { answerBeforeClose } from "../support/answerBeforeClose.js"
import { freePort, type Spawned, spawnProcess } from "../support/process.js"

const dist = (file: string) => fileURLToPath(new URL(`../../dist/${file}`, import.meta.url))

const started: Array<Spawned> = []
afterEach(async () => {
  for (const spawned of started.splice(0)) {
    spawned.child.kill("SIGKILL")
    await spawned.exited
  }
})

describe("the Redis example against a Redis it cannot reach", () => {
  it("each new reason is said once, and the connection coming back once", () => {
    const redis = new EventEmitter()
    const said: Array<string> = []
    sayConnectionTrouble(redis as unknown as Redis, "redis://:pw@r:6379/0", (text) => said.push(text))
    for (const message of ["connect ECONNREFUSED", "connect ECONNREFUSED", "connect ECONNREFUSED", "read ECONNRESET"]) {
      redis.emit("error", new Error(message))
    }
    redis.emit("ready")
    redis.emit("ready")
    redis.emit("error", new Error("connect ECONNREFUSED"))
    expect(said).toEqual([
      "no connection to redis://r:6379/0 (connect ECONNREFUSED); retrying",
      "no connection to redis://r:6379/0 (read ECONNRESET); retrying",
      "connected to redis://r:6379/0 again",
      "no connection to redis://r:6379/0 (connect ECONNREFUSED); retrying"
    ])
    // ioredis also takes host:port, which is no URL: it is shown as given, less a password before an `@`.
    const plain = new EventEmitter()
    const told: Array<string> = []
    sayConnectionTrouble(plain as unknown as Redis, ":pw@127.0.0.1:1", (text) => told.push(text))
    plain.emit("error", new Error("connect ECONNREFUSED"))
    expect(told).toEqual(["no connection to 127.0.0.1:1 (connect ECONNREFUSED); retrying"])
  })

  it("a peer that is not Redis (an HTTP server) is said as the wrong address it is, by the example's consumer and the autoscale consumer", async () => {
    const web = createServer((_, res) => res.end("hi"))
    await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve))
    try {
      const url = `redis://127.0.0.1:${(web.address() as AddressInfo).port}`
      const consumer = spawnProcess(process.execPath, [dist("examples/redis-consumer.js")], { REDIS_URL: url, SIDECAR_PORT: String(await freePort()) })
      const autoscale = spawnProcess(process.execPath, [dist("examples/autoscale-consumer.js")], {
        REDIS_URL: url,
        WORKER_CONTROL_URL: "http://127.0.0.1:1",
        SIDECAR_PORT: String(await freePort())
      })
      started.push(consumer, autoscale)
      const reason = `the peer does not answer in the Redis protocol (its reply began with "H"): is this a Redis server's address?`
      await consumer.waitFor(`no connection to ${url} (${reason})`)
      // The autoscale consumer's events are JSON lines: its quotes are escaped.
      await autoscale.waitFor(`no connection to ${url} (${reason.replaceAll('"', '\\"')})`)
      for (const spawned of [consumer, autoscale]) expect(spawned.output()).not.toContain("Please report this")
    } finally {
      await new Promise((resolve) => web.close(resolve))
    }
  })

  it("the consumer's health port closes the connection of a body it does not read, saying so, while it still comes (probe 42 L2)", async () => {
    const healthPort = await freePort()
    const consumer = spawnProcess(process.execPath, [dist("examples/redis-consumer.js")], { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, SIDECAR_PORT: String(healthPort) })
    started.push(consumer)
    await consumer.waitFor(`health on :${healthPort}`)
    // A chunked body that never ends: without the close, Node would parse it for as long as it comes.
    const received = await answerBeforeClose(healthPort, `POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${"1\r\ny\r\n".repeat(100)}`)
    expect(received).toMatch(/^HTTP\/1\.1 404 [\s\S]*\r\nConnection: close\r\n[\s\S]*not found\r\n0\r\n\r\n$/)
  })

  it("the dispatcher and the consumer say so, naming the address without its password", async () => {
    // A port nothing listens on: every connection attempt is refused.
    const closed = await freePort()
    const url = `redis://user:SECRET@127.0.0.1:${closed}`
    const dispatcher = spawnProcess(process.execPath, [dist("examples/redis-dispatcher.js"), "--jobs", "1", "--redis-url", url], { VAST_API_KEY: "local" })
    const consumer = spawnProcess(process.execPath, [dist("examples/redis-consumer.js")], { REDIS_URL: url, SIDECAR_PORT: String(await freePort()) })
    started.push(dispatcher, consumer)
    const said = `no connection to redis://127.0.0.1:${closed} (connect ECONNREFUSED 127.0.0.1:${closed}); retrying`
    await dispatcher.waitFor(said)
    await consumer.waitFor(said)
    for (const spawned of [dispatcher, consumer]) expect(spawned.output()).not.toContain("SECRET")
  })
})
