import { execFileSync, spawn } from "node:child_process"
import { ADDRCONFIG } from "node:dns"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { Agent, createServer, get } from "node:http"
import type { AddressInfo, LookupFunction } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { hostsFirstLookup, parseHosts } from "../../src/shared/hostsFirstLookup.js"
import { keepAliveHttpClient } from "../../src/shared/keepAliveHttpClient.js"
import { readBoundedFile } from "../../src/shared/readBoundedFile.js"
import { HealthProber } from "../../src/worker/health/HealthProber.js"
import { makeNodeJsonPost } from "../../src/worker/autoscaler/jsonPost.js"

const dir = mkdtempSync(join(tmpdir(), "hosts-first-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const hostsFile = (text: string): string => {
  const file = join(dir, `hosts-${Math.random().toString(36).slice(2)}`)
  writeFileSync(file, text)
  return file
}

/** A resolver that never answers (a DNS outage), counting who asked it. */
const hungResolver = () => {
  const asked: Array<string> = []
  const lookup = ((hostname: string) => void asked.push(hostname)) as unknown as LookupFunction
  return { asked, lookup }
}

/** What `lookup` answers for `hostname` with `options`, as `[addresses…]`. */
const answer = (lookup: LookupFunction, hostname: string, options: Parameters<LookupFunction>[1]) =>
  new Promise<unknown>((resolve, reject) =>
    lookup(hostname, options, (error, address, family) => (error === null ? resolve(options.all === true ? address : [address, family]) : reject(error)))
  )

describe("hostsFirstLookup", () => {
  it("parseHosts: each name's addresses in the file's order, names in lower case; comments, blank lines and lines without an address skipped", () => {
    const table = parseHosts("# a comment\n127.0.0.1\tlocalhost Consumer  # the consumer\n\n::1 localhost ip6-localhost\nnot-an-address name\n10.0.0.2 consumer\n127.0.0.1 localhost\n")
    expect(Object.fromEntries(table)).toEqual({
      localhost: [
        { address: "127.0.0.1", family: 4 },
        { address: "::1", family: 6 }
      ],
      consumer: [
        { address: "127.0.0.1", family: 4 },
        { address: "10.0.0.2", family: 4 }
      ],
      "ip6-localhost": [{ address: "::1", family: 6 }]
    })
  })

  it("a name the file gives is answered from it, in any case and with a final dot, never asking the resolver; the family asked for is kept", async () => {
    const resolver = hungResolver()
    const lookup = hostsFirstLookup(hostsFile("127.0.0.1 localhost consumer\n::1 localhost\n"), resolver.lookup)
    expect(await answer(lookup, "Consumer.", {})).toEqual(["127.0.0.1", 4])
    expect(await answer(lookup, "localhost", { all: true })).toEqual([
      { address: "127.0.0.1", family: 4 },
      { address: "::1", family: 6 }
    ])
    expect(await answer(lookup, "localhost", { family: 6 })).toEqual(["::1", 6])
    expect(resolver.asked).toEqual([])
  })

  it("localhost and the names under it are the loopback without the file's word; any other name, or a family the file lacks, goes to the resolver", async () => {
    const resolver = hungResolver()
    const lookup = hostsFirstLookup(join(dir, "missing"), resolver.lookup)
    expect(await answer(lookup, "app.localhost", { all: true })).toEqual([
      { address: "127.0.0.1", family: 4 },
      { address: "::1", family: 6 }
    ])
    const listed = hostsFirstLookup(hostsFile("127.0.0.1 consumer\n"), resolver.lookup)
    void answer(listed, "consumer", { family: 6 })
    void answer(listed, "run.vast.ai", {})
    expect(resolver.asked).toEqual(["consumer", "run.vast.ai"])
  })

  it("asked with ADDRCONFIG on a host whose IPv6 reaches only the loopback, a name listed with both families gets its IPv4 addresses, as glibc answers; else the file's order (review 63 #5)", async () => {
    const file = hostsFile("::1 consumer\n127.0.0.1 consumer\n::1 only6\n")
    const resolver = hungResolver()
    const v4Only = hostsFirstLookup(file, resolver.lookup, () => false)
    expect(await answer(v4Only, "consumer", { hints: ADDRCONFIG, all: true })).toEqual([{ address: "127.0.0.1", family: 4 }])
    expect(await answer(v4Only, "consumer", { hints: ADDRCONFIG })).toEqual(["127.0.0.1", 4])
    // Not asked so, or a family named, or no IPv4 to give: as listed.
    expect(await answer(v4Only, "consumer", {})).toEqual(["::1", 6])
    expect(await answer(v4Only, "consumer", { hints: ADDRCONFIG, family: 6 })).toEqual(["::1", 6])
    expect(await answer(v4Only, "only6", { hints: ADDRCONFIG })).toEqual(["::1", 6])
    const dual = hostsFirstLookup(file, resolver.lookup, () => true)
    expect(await answer(dual, "consumer", { hints: ADDRCONFIG })).toEqual(["::1", 6])
    expect(resolver.asked).toEqual([])
  })

  it("a consumer on 127.0.0.1 only, listed after ::1, is reached with the family's autoselection off (Node's connection asks with ADDRCONFIG)", async () => {
    const server = createServer((_request, response) => response.end("ok"))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const { port } = server.address() as AddressInfo
      const lookup = hostsFirstLookup(hostsFile("::1 consumer\n127.0.0.1 consumer\n"), hungResolver().lookup, () => false)
      const status = await new Promise<number>((resolve, reject) =>
        // Passed on to the socket's connect (Node's request types do not list it).
        get({ host: "consumer", port, path: "/", lookup, agent: false, ...{ autoSelectFamily: false } }, (response) => {
          response.resume()
          resolve(response.statusCode ?? 0)
        }).on("error", reject)
      )
      expect(status).toBe(200)
    } finally {
      server.close()
    }
  })

  it("a hosts path that is not a regular file (here a FIFO with a writer waiting; a device alike) is not read: its names go to the resolver (probe 58 #4: a FIFO froze the worker, /dev/zero filled its memory)", async () => {
    const fifo = join(dir, `fifo-${Math.random().toString(36).slice(2)}`)
    execFileSync("mkfifo", [fifo])
    // Were it read, it would give the name: the writer waits for a reader.
    const writer = spawn("sh", ["-c", `printf '127.0.0.1 consumer\\n' > '${fifo}'`], { stdio: "ignore" })
    try {
      const resolver = hungResolver()
      void answer(hostsFirstLookup(fifo, resolver.lookup), "consumer", {})
      expect(resolver.asked).toEqual(["consumer"])
    } finally {
      writer.kill("SIGKILL")
    }
  })

  it("a read of the file that failed (EMFILE) is tried again at the next lookup, not kept as a file with no names (review 65 #3)", async () => {
    const file = hostsFile("127.0.0.1 consumer\n")
    let failures = 1
    const resolver = hungResolver()
    const lookup = hostsFirstLookup(file, resolver.lookup, () => false, (path, max) => {
      if (failures-- > 0) throw Object.assign(new Error("EMFILE: too many open files"), { code: "EMFILE" })
      return readBoundedFile(path, max)
    })
    void answer(lookup, "consumer", {})
    expect(resolver.asked).toEqual(["consumer"])
    expect(await answer(lookup, "consumer", {})).toEqual(["127.0.0.1", 4])
  })

  it("the file is read again once it changes", async () => {
    const file = hostsFile("127.0.0.1 consumer\n")
    const lookup = hostsFirstLookup(file, hungResolver().lookup)
    expect(await answer(lookup, "consumer", {})).toEqual(["127.0.0.1", 4])
    writeFileSync(file, "127.0.0.2   consumer\n")
    expect(await answer(lookup, "consumer", {})).toEqual(["127.0.0.2", 4])
  })

  describe("while the resolver answers nothing (probe 57 #1: the health check of localhost waited behind hung lookups)", () => {
    const consumer = createServer((_request, response) => response.end("ok"))
    const listening = new Promise<number>((resolve) => consumer.listen(0, "127.0.0.1", () => resolve((consumer.address() as AddressInfo).port)))
    afterAll(() => void consumer.close())

    it("an agent with it reaches a name of the file", async () => {
      const resolver = hungResolver()
      const agent = new Agent({ lookup: hostsFirstLookup(hostsFile("127.0.0.1 consumer\n"), resolver.lookup) })
      const port = await listening
      const status = await new Promise<number>((resolve, reject) =>
        get(`http://consumer:${port}/health`, { agent }, (response) => (response.resume(), resolve(response.statusCode ?? 0))).once("error", reject)
      )
      agent.destroy()
      expect([status, resolver.asked]).toEqual([200, []])
    })

    it("the health prober over the keep-alive client with it, and the reports' poster with it, reach a name of the file", async () => {
      const resolver = hungResolver()
      // A name no resolver knows: reached only through the file.
      const lookup = hostsFirstLookup(hostsFile("127.0.0.1 consumer-probe57\n"), resolver.lookup)
      const port = await listening
      const check = Effect.flatMap(HealthProber, (prober) => prober.check).pipe(
        Effect.provide(HealthProber.layer(`http://consumer-probe57:${port}/health`, "5 seconds").pipe(Layer.provide(keepAliveHttpClient({ lookup }))))
      )
      await Effect.runPromise(check)
      const poster = makeNodeJsonPost(lookup)
      expect(await Effect.runPromise(poster.post(`http://consumer-probe57:${port}/worker_status/`, "{}"))).toBe(200)
      poster.close()
      expect(resolver.asked).toEqual([])
    })
  })
})
