import { spawn } from "node:child_process"
import { closeSync, copyFileSync, type FSWatcher, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, watch, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { constants, tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { FakeAutoscaler } from "../support/fakeAutoscaler.js"
import { authData } from "../support/sessions.js"
import { tracked } from "../support/cleanup.js"
import { childEnv, freePort, mainJs, spawnProcess, spawnWorker } from "../support/process.js"

const { cleanup, processes: started, servers } = tracked()
let autoscaler: FakeAutoscaler

beforeEach(async () => {
  autoscaler = await FakeAutoscaler.start()
})

afterEach(async () => {
  await autoscaler.close()
  await cleanup()
})

const post = async (url: string, body?: unknown) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, json: text === "" ? null : (JSON.parse(text) as Record<string, unknown>) }
}

/** A callback target on a free port; `next()` resolves with the next body it receives. */
const startReceiver = async () => {
  const bodies: Array<unknown> = []
  const waiting: Array<(body: unknown) => void> = []
  const server = createServer((request, response) => {
    let text = ""
    request.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
    request.on("end", () => {
      const body: unknown = JSON.parse(text)
      const waiter = waiting.shift()
      if (waiter) waiter(body)
      else bodies.push(body)
      response.writeHead(200).end()
    })
  })
  servers.push(server)
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve(typeof address === "object" && address !== null ? address.port : 0)
    })
  )
  const next = () =>
    bodies.length > 0 ? Promise.resolve(bodies.shift()) : new Promise<unknown>((resolve) => waiting.push(resolve))
  return { url: `http://127.0.0.1:${port}/closed`, next }
}

/** A worker process on free ports, reporting to the fake autoscaler; not yet waited for. */
const spawnOnFreePorts = async (extra: Record<string, string> = {}) => {
  const [workerPort, httpPort, controlPort] = [await freePort(), await freePort(), await freePort()]
  const worker = spawnWorker({
    WORKER_PORT: String(workerPort),
    WORKER_HTTP_PORT: String(httpPort),
    NULL_CONTROL_PORT: String(controlPort),
    REPORT_ADDR: autoscaler.url,
    CONTAINER_ID: "7",
    PUBLIC_IPADDR: "127.0.0.1",
    [`VAST_TCP_PORT_${workerPort}`]: String(workerPort),
    UNSECURED: "true",
    ...extra
  })
  started.push(worker)
  return { worker, workerPort, httpPort, controlPort }
}

const startWorker = async (extra: Record<string, string> = {}) => {
  const { controlPort, httpPort, worker, workerPort } = await spawnOnFreePorts(extra)
  await worker.waitFor("control listening")
  return {
    worker,
    publicUrl: `http://127.0.0.1:${workerPort}`,
    webhookUrl: `http://127.0.0.1:${httpPort}`,
    controlUrl: `http://127.0.0.1:${controlPort}`
  }
}

describe("the real process (node dist/main.js)", () => {
  it("reserves, pings, releases via /release and /session/end, and expires", async () => {
    const receiver = await startReceiver()
    const { controlUrl, publicUrl, webhookUrl } = await startWorker()
    const create = (payload: Record<string, unknown>) =>
      post(`${publicUrl}/session/create`, { auth_data: authData(), payload: { on_close_route: receiver.url, ...payload } })

    const first = await create({ lifetime: 60, on_close_payload: { job_id: "one" } })
    expect(first.status).toBe(201)
    const firstId = String(first.json?.["session_id"])
    expect((await create({ lifetime: 60 })).status).toBe(429)
    const ping = await post(`${publicUrl}/ping`, { auth_data: authData(), payload: {}, session_id: firstId })
    expect(ping.json).toEqual({ result: { ok: true }, expiration: expect.any(Number) })
    expect((await post(`${controlUrl}/release`)).json).toEqual({ released: true, session_ids: [firstId] })
    expect(await receiver.next()).toEqual({ job_id: "one", session_id: firstId, close_reason: "released", generation: 1 })

    const second = await create({ lifetime: 60 })
    const secondId = String(second.json?.["session_id"])
    expect((await post(`${webhookUrl}/session/end`, { session_id: secondId, session_auth: authData() })).json).toEqual({
      ended: true,
      removed_session: secondId
    })
    expect(await receiver.next()).toEqual({ session_id: secondId, close_reason: "ended", generation: 2 })

    // A short lifetime: the worker closes it on its own and the slot is free again.
    const third = await create({ lifetime: 0.2 })
    const thirdId = String(third.json?.["session_id"])
    expect(await receiver.next()).toEqual({ session_id: thirdId, close_reason: "expired", generation: 3, expired_by: "lifetime" })
    expect((await create({ lifetime: 60 })).status).toBe(201)
  })

  it("the public and webhook ports take both address families where the host has IPv6 (a PUBLIC_IPADDR may be one), the control port loopback IPv4 alone", async () => {
    const ipv6 = await new Promise<boolean>((resolve) => {
      const probe = createServer()
      probe.once("error", () => resolve(false))
      probe.listen(0, "::1", () => probe.close(() => resolve(true)))
    })
    const { controlPort, httpPort, worker, workerPort } = await spawnOnFreePorts()
    await worker.waitFor("control listening")
    // Node listens on `::` (both families) where it can, else on 0.0.0.0: either way IPv4 clients are served.
    expect(worker.output()).toContain(`public API listening on http://${ipv6 ? "[::]" : "0.0.0.0"}:${workerPort}`)
    const hosts = ipv6 ? ["127.0.0.1", "[::1]"] : ["127.0.0.1"]
    for (const host of hosts) {
      expect((await post(`http://${host}:${workerPort}/session/create`, { auth_data: authData(), payload: {} })).status, host).toBe(host === "127.0.0.1" ? 201 : 429)
      expect((await post(`http://${host}:${httpPort}/session/end`, { session_id: "x", session_auth: authData() })).status, host).toBe(400)
    }
    const control = (host: string) => fetch(`http://${host}:${controlPort}/sessions`).then((answer) => answer.status, () => "refused")
    expect(await control("127.0.0.1")).toBe(200)
    if (ipv6) expect(await control("[::1]")).toBe("refused")
  })

  it("DRAIN_TIMEOUT=0: SIGTERM closes the open session with reason shutdown at once, delivers its callback, and exits 0", async () => {
    const receiver = await startReceiver()
    const { publicUrl, worker } = await startWorker({ DRAIN_TIMEOUT: "0" })
    const created = await post(`${publicUrl}/session/create`, {
      auth_data: authData(),
      payload: { lifetime: 600, on_close_route: receiver.url, on_close_payload: "bye" }
    })
    const id = String(created.json?.["session_id"])
    worker.child.kill("SIGTERM")
    expect(await receiver.next()).toEqual({ payload: "bye", session_id: id, close_reason: "shutdown", generation: 1 })
    expect(await worker.exited).toBe(0)
    expect(worker.output()).toMatch(/message="session closed" session_id=\w+ generation=1 reason=shutdown/)
    expect(worker.output()).toContain('message="worker stopped"')
  })

  it("its stdout reader goes away (EPIPE): it keeps serving, closes sessions with their callbacks and stops with 0", async () => {
    const receiver = await startReceiver()
    const { publicUrl, worker } = await startWorker({ DRAIN_TIMEOUT: "0" })
    // The reader of the worker's stdout exits, as `| head` or a killed `tee` would: every later log line fails.
    worker.child.stdout?.destroy()
    const created = await post(`${publicUrl}/session/create`, { auth_data: authData(), payload: { lifetime: 600, on_close_route: receiver.url } })
    expect(created.status).toBe(201)
    const id = String(created.json?.["session_id"])
    expect((await post(`${publicUrl}/session/end`, { session_id: id, session_auth: authData() })).status).toBe(200)
    expect(await receiver.next()).toEqual({ session_id: id, close_reason: "ended", generation: 1 })
    const second = await post(`${publicUrl}/session/create`, { auth_data: authData(), payload: { lifetime: 600, on_close_route: receiver.url } })
    expect(second.status).toBe(201)
    worker.child.kill("SIGTERM")
    expect(await receiver.next()).toEqual({ session_id: String(second.json?.["session_id"]), close_reason: "shutdown", generation: 2 })
    expect(await worker.exited).toBe(0)
    expect(worker.output()).not.toContain("EPIPE")
  })

  it("signals repeated through the whole shutdown never kill it: exit 0 and the 'worker stopped' line", async () => {
    const receiver = await startReceiver()
    const { publicUrl, worker } = await startWorker({ DRAIN_TIMEOUT: "0" })
    const created = await post(`${publicUrl}/session/create`, { auth_data: authData(), payload: { lifetime: 600, on_close_route: receiver.url } })
    expect(created.status).toBe(201)
    // A supervisor that keeps asking: a signal every few milliseconds until the process is gone, so one lands in
    // every part of the stop, its last milliseconds included.
    const signals = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2"] as const
    let sent = 0
    const pester = setInterval(() => {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill(signals[sent++ % signals.length])
    }, 3)
    try {
      expect(await worker.exited).toBe(0)
    } finally {
      clearInterval(pester)
    }
    expect(worker.child.signalCode).toBeNull()
    expect(sent).toBeGreaterThan(1)
    expect(worker.output()).toContain('message="worker stopped"')
    expect(await receiver.next()).toEqual({ session_id: String(created.json?.["session_id"]), close_reason: "shutdown", generation: 1 })
  })

  it.each(["SIGTERM", "SIGHUP", "SIGUSR2"] as const)(
    "%s as soon as the process catches it (the boot, before the worker's code has loaded): exit 0, 'worker stopped', the exit marker",
    async (signal) => {
      const dir = mkdtempSync(join(tmpdir(), "null-worker-early-"))
      const marker = join(dir, "exit")
      const { worker } = await spawnOnFreePorts({ NULL_EXIT_FILE: marker })
      // The signal's own bit in the caught-signals mask, and SIGHUP's: Node catches SIGTERM and SIGINT itself from its
      // start (to restore the terminal before it dies of them), SIGHUP and SIGUSR2 only once a listener exists; the
      // boot adds its four one after another, before the bundle loads. (Sent then, the signal waits for the load to end;
      // before the boot's listeners, it killed the process.) A poll of the real process, bounded.
      const bits = (1n << BigInt(constants.signals[signal] - 1)) | (1n << BigInt(constants.signals.SIGHUP - 1))
      const caught = () => {
        const line = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${worker.child.pid}/status`, "utf8"))
        return line !== null && (BigInt(`0x${line[1]}`) & bits) === bits
      }
      try {
        const deadline = Date.now() + 5_000
        while (!caught() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2))
        worker.child.kill(signal)
        expect(await worker.exited, worker.output()).toBe(0)
        expect(worker.output()).toContain('message="worker stopped"')
        expect(readFileSync(marker, "utf8")).toBe(`${worker.child.pid} stopped\n`)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  )

  it("an exit marker replaced by a link to the journal while the worker ran is not written at the stop: a warning, the journal kept, exit 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-marker-"))
    try {
      const journal = join(dir, "outbox.jsonl")
      const marker = join(dir, "exit")
      const { worker } = await spawnOnFreePorts({ NULL_EXIT_FILE: marker, OUTBOX_FILE: journal })
      await worker.waitFor(/message="worker started"/, 20_000)
      writeFileSync(journal, `${readFileSync(journal, "utf8")}{"op":"done","session_id":"kept"}\n`)
      const before = readFileSync(journal, "utf8")
      symlinkSync(journal, marker)
      worker.child.kill("SIGTERM")
      expect(await worker.exited, worker.output()).toBe(0)
      expect(worker.output()).toContain(`could not write the exit marker: a supervisor may take this stop for a kill" file=${marker} cause="${marker} is now ${journal}, which the worker keeps"`)
      expect(readFileSync(journal, "utf8")).toBe(before)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("a worker whose output goes to a log file refuses that file, by its name or as /dev/stdout, as NULL_EXIT_FILE; a marker linked to the log since is not written at the stop", async () => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-own-log-"))
    /** The worker with its standard output and error appended to `log`; resolves with its exit code. */
    const runLogged = (log: string, extra: Record<string, string>) => {
      const fd = openSync(log, "a")
      const child = spawn(process.execPath, [mainJs], {
        env: { ...childEnv(), REPORT_ADDR: autoscaler.url, CONTAINER_ID: "7", PUBLIC_IPADDR: "127.0.0.1", UNSECURED: "true", ...extra },
        stdio: ["ignore", fd, fd]
      })
      closeSync(fd)
      const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
      // Killed after the test whatever happens in it (a test cut off by its timeout runs no `finally`).
      started.push({ child, exited, output: () => readFileSync(log, "utf8"), waitFor: () => Promise.reject(new Error("read the log instead")) })
      return { child, exited }
    }
    /** Watches of the log still waiting, closed with the test whatever happens in it. */
    const watching = new Set<FSWatcher>()
    /** The first of `texts` found in `log`, once one is: read again each time the real process writes to it. */
    const untilLogged = (log: string, ...texts: ReadonlyArray<string>): Promise<string> =>
      new Promise((resolve) => {
        // Watched before the first read, so that a write between the two is not missed.
        const watcher = watch(log, () => look())
        watching.add(watcher)
        const look = () => {
          const written = readFileSync(log, "utf8")
          const found = texts.find((text) => written.includes(text))
          if (found === undefined) return
          watcher.close()
          watching.delete(watcher)
          resolve(found)
        }
        look()
      })
    try {
      const log = join(dir, "worker.log")
      // (Its standard error is the same file: found as its standard output first.)
      for (const marker of [log, "/dev/stdout", "/dev/stderr"]) {
        const port = await freePort()
        // Nothing else listens on the webhook and control ports: taken free, so a start that passed would not fail on them.
        const ports = { WORKER_PORT: String(port), [`VAST_TCP_PORT_${port}`]: String(port), WORKER_HTTP_PORT: String(await freePort()), NULL_CONTROL_PORT: String(await freePort()) }
        const { child } = runLogged(log, { ...ports, NULL_EXIT_FILE: marker })
        try {
          // A launch failure: reported to the autoscaler until the process is stopped.
          const refusal = `NULL_EXIT_FILE: ${marker} is this process's standard output, which it would write over`
          expect(await untilLogged(log, refusal, 'message="worker started"')).toBe(refusal)
        } finally {
          child.kill("SIGKILL")
        }
      }
      // Accepted at the start, then made a link to the log: the stop leaves the log whole and says why.
      const marker = join(dir, "exit")
      const [workerPort, httpPort, controlPort] = [await freePort(), await freePort(), await freePort()]
      const { child, exited } = runLogged(log, {
        WORKER_PORT: String(workerPort),
        WORKER_HTTP_PORT: String(httpPort),
        NULL_CONTROL_PORT: String(controlPort),
        [`VAST_TCP_PORT_${workerPort}`]: String(workerPort),
        NULL_EXIT_FILE: marker
      })
      try {
        await untilLogged(log, 'message="worker started"')
        symlinkSync(log, marker)
        child.kill("SIGTERM")
        expect(await exited).toBe(0)
      } finally {
        child.kill("SIGKILL")
      }
      const written = readFileSync(log, "utf8")
      expect(written).toContain(`cause="${marker} is now this process's standard output, which a marker would write over"`)
      expect(written).toContain('message="worker stopped"')
      expect(written).not.toContain("\0")
      expect(written).not.toContain(`${child.pid} stopped`)
    } finally {
      for (const watcher of watching) watcher.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("the boot holds SIGTERM, SIGINT, SIGHUP and SIGUSR2 before the worker bundle runs: a signal sent while it loads does not kill it", async () => {
    // The real boot, with a bundle of our own beside it that reports the listeners it finds and signals its process.
    const dir = mkdtempSync(join(tmpdir(), "null-worker-boot-"))
    try {
      copyFileSync(mainJs, join(dir, "main.js"))
      writeFileSync(
        join(dir, "worker.cjs"),
        'process.stdout.write(["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2"].map((s) => process.listenerCount(s)).join(" ") + "\\n"); process.kill(process.pid, "SIGUSR2")\n'
      )
      const boot = spawnProcess(process.execPath, [join(dir, "main.js")], childEnv())
      started.push(boot)
      expect(await boot.exited, boot.output()).toBe(0)
      expect(boot.child.signalCode).toBeNull()
      expect(boot.output()).toBe("1 1 1 1\n")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("SIGUSR1 does not open Node's inspector (a way into the worker's secrets for any local process), nor stop the worker", async () => {
    const { controlUrl, worker } = await startWorker()
    worker.child.kill("SIGUSR1")
    expect((await fetch(`${controlUrl}/sessions`)).status).toBe(200)
    // Pending together, SIGUSR1 (10) is delivered before SIGTERM (15): by the clean exit, a debugger would have said so.
    worker.child.kill("SIGUSR1")
    worker.child.kill("SIGTERM")
    expect(await worker.exited).toBe(0)
    expect(worker.output()).toContain('message="worker stopped"')
    expect(worker.output()).not.toContain("Debugger listening")
  })

  it("an invalid environment stops startup with one message listing every problem", async () => {
    const worker = spawnWorker({ NULL_MAX_SESSIONS: "0", BACKEND_HEALTH_URL: "not-a-url" })
    started.push(worker)
    expect(await worker.exited).toBe(1)
    const output = worker.output()
    for (const name of ["WORKER_PORT", "NULL_MAX_SESSIONS", "BACKEND_HEALTH_URL"]) expect(output).toContain(name)
    expect(output).not.toContain("at file://")
    // Not on Vast: where the variables come from, and where to go to try the worker here (newcomer 35 #8).
    expect(output).toContain("not on a Vast instance (CONTAINER_ID is unset)")
    expect(output).toContain("npm run demo")
  })

  it("without REPORT_ADDR a launch failure exits 1: there is nobody to tell; 'worker stopped' is the last line, even at debug", async () => {
    const [port, httpPort, controlPort] = [await freePort(), await freePort(), await freePort()]
    const worker = spawnWorker({
      WORKER_PORT: String(port),
      WORKER_HTTP_PORT: String(httpPort),
      NULL_CONTROL_PORT: String(controlPort),
      CONTAINER_ID: "8",
      PUBLIC_IPADDR: "127.0.0.1",
      [`VAST_TCP_PORT_${port}`]: String(port),
      UNSECURED: "true",
      LOG_LEVEL: "debug"
    })
    started.push(worker)
    expect(await worker.exited).toBe(1)
    expect(worker.output()).toContain("Worker Server failed to launch: invalid configuration: REPORT_ADDR: is required but not set")
    // On an instance (CONTAINER_ID set), no advice for a newcomer's machine.
    expect(worker.output()).not.toContain("not on a Vast instance")
    // The failure is logged once, where it happened: not again as an unhandled error after the last line.
    expect(worker.output().trim().split("\n").at(-1)).toContain('message="worker stopped"')
  })
})
