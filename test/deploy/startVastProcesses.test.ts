/**
 * scripts/start-vast.sh getting the project (clone at a ref, `npm ci`) and running CONSUMER_CMD beside
 * the worker it execs. Same fakes as startVast.test.ts.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { describe, expect, it } from "vitest"
import { cleanup, startReceiver } from "../support/workerProcess.js"
import { alive, DeployHarness, eventually, isReady, mainJs, root, running } from "./harness.js"
import { PROTOCOL_VERSION } from "../../src/protocol/workerStatus.js"

const h = DeployHarness.use()

describe("start-vast.sh: cloning NULL_WORKER_REPO at NULL_WORKER_REF and building it with npm ci", () => {
  /** A local repository: tag v1 builds (its `prepare` copies the real dist/main.js); HEAD's build fails. */
  const makeRepo = () => {
    const repo = join(h.dir, "repo")
    mkdirSync(repo)
    const git = (...args: Array<string>) =>
      execFileSync("git", ["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main", ...args], {
        cwd: repo,
        stdio: "ignore"
      })
    const write = (prepare: string) => {
      writeFileSync(join(repo, "package.json"), JSON.stringify({ name: "null-worker", version: "0.0.0", private: true, scripts: { prepare } }))
      const lock = { name: "null-worker", version: "0.0.0", lockfileVersion: 3, requires: true, packages: { "": { name: "null-worker", version: "0.0.0" } } }
      writeFileSync(join(repo, "package-lock.json"), JSON.stringify(lock))
    }
    git("init", "-q")
    // The "build" copies the built worker: its boot, bundle and code cache.
    write(
      `node -e "const fs=require('fs');fs.mkdirSync('dist',{recursive:true});for(const f of ['main.js','worker.cjs','worker.cjs.cache'])fs.copyFileSync(process.env.TEST_DIST+'/'+f,'dist/'+f)"`
    )
    git("add", ".")
    git("commit", "-q", "-m", "builds")
    git("tag", "v1")
    write(`node -e "console.error('build \\"broke\\"'); process.exit(7)"`)
    git("commit", "-q", "-am", "breaks")
    return repo
  }

  it("clones the ref, builds, runs the worker; a second start reuses the build", async () => {
    const repo = makeRepo()
    const { env, workspace } = await h.vastEnv({ NULL_WORKER_REPO: repo, NULL_WORKER_REF: "v1", USE_SSL: "false", TEST_DIST: dirname(mainJs) })
    const first = h.start(h.detachedScript, env)
    await h.recorder.waitFor(isReady)
    expect(existsSync(join(workspace, "null-worker", "dist", "main.js"))).toBe(true)
    first.child.kill("SIGTERM")
    expect(await first.exited).toBe(0)

    const again = await h.vastEnv({ NULL_WORKER_REPO: repo, NULL_WORKER_REF: "v1", USE_SSL: "false", WORKSPACE_DIR: workspace })
    const second = h.start(h.detachedScript, again.env)
    await h.recorder.waitFor((report) => isReady(report) && report.json?.["url"] === `http://127.0.0.1:${again.workerPort}`)
    expect(second.output()).toContain("reusing")
    second.child.kill("SIGTERM")
    expect(await second.exited).toBe(0)
    expect(h.recorder.errors()).toEqual([])
  })

  it("a build that fails is reported with the end of its output", async () => {
    const repo = makeRepo()
    const { env } = await h.vastEnv({ NULL_WORKER_REPO: repo, USE_SSL: "false" })
    const report = await h.launchFailure(h.start(h.detachedScript, env))
    expect(report["error_msg"]).toMatch(/^npm ci in .*\/null-worker failed \(status \d+\): /)
    expect(report["error_msg"]).toContain('build "broke"')
  })
})

describe("start-vast.sh: CONSUMER_CMD", () => {
  it("a consumer that exits stops the worker, and its exit is reported after the worker's last report", async () => {
    const { env, workerPort, workspace } = await h.vastEnv({
      USE_SSL: "false",
      NULL_WORKER_DIR: root,
      // Like a real consumer, it waits for the worker's control server, then works a little, then dies.
      CONSUMER_CMD: `until curl -sf "http://127.0.0.1:$NULL_CONTROL_PORT/health" >/dev/null; do sleep 0.1; done; echo "consumer up"; sleep 1; exit 3`
    })
    const run = h.start(h.detachedScript, env)
    const report = await h.recorder.waitFor((status) => status.json?.["error_msg"] === "consumer exited with status 3", 20_000)
    expect(await run.exited).toBe(0)
    expect(report.json).toEqual({ id: 31337, mtoken: "tok", version: PROTOCOL_VERSION, error_msg: "consumer exited with status 3", url: `http://127.0.0.1:${workerPort}` })
    expect(h.recorder.statuses.at(-1)).toBe(report)
    expect(readFileSync(join(workspace, "consumer.log"), "utf8")).toBe("consumer up\n")
    // The script's lines and the worker's, and not bash's notice of the poller it kills ("Killed", read as an OOM kill).
    const log = readFileSync(join(workspace, "null-worker.log"), "utf8")
    expect(log).toContain("ERROR: consumer exited with status 3")
    expect(log).not.toMatch(/Killed|while alive/)
  })

  it("a consumer that exits with a session open: the session closes at once (/recycle), not after DRAIN_TIMEOUT, and the exit is reported last", async () => {
    const receiver = await startReceiver()
    try {
      const go = join(h.dir, "consumer-exits")
      const { env, workerPort } = await h.vastEnv({
        USE_SSL: "false",
        NULL_WORKER_DIR: root,
        DRAIN_TIMEOUT: "30",
        CONSUMER_CMD: `until [ -e "${go}" ]; do sleep 0.1; done; exit 3`
      })
      const run = h.start(h.detachedScript, env)
      const ready = await h.recorder.waitFor(isReady)
      const auth = { url: ready.json?.["url"], signature: "x", reqnum: 1, request_idx: 1, endpoint: "e", cost: 100 }
      const payload = { lifetime: 300, on_close_route: `${receiver.url}/closed` }
      const created = await fetch(`http://127.0.0.1:${workerPort}/session/create`, { method: "POST", body: JSON.stringify({ auth_data: auth, payload }) })
      expect(created.status).toBe(201)

      const closed = receiver.next().then((callback) => ({ callback, at: Date.now() }))
      const exitAt = Date.now()
      writeFileSync(go, "")
      // Well under DRAIN_TIMEOUT: SIGTERM alone would hold the dead consumer's session for the full 30 s (and the report
      // with it). Under 20 s, with room for a loaded machine: 1.6 s seen at a load average of 10.
      const report = await h.recorder.waitFor((status) => status.json?.["error_msg"] === "consumer exited with status 3", 20_000)
      expect(await run.exited).toBe(0)
      const { callback, at } = await closed
      expect(callback.body).toMatchObject({ close_reason: "shutdown" })
      expect(at - exitAt).toBeLessThan(20_000)
      // The worker said why (the /recycle reason), and the script's report came last; nothing else.
      expect(new Set(h.recorder.errors().map((status) => status.json?.["error_msg"]))).toEqual(
        new Set(["Recycled by the consumer: consumer exited with status 3", "consumer exited with status 3"])
      )
      expect(h.recorder.statuses.at(-1)).toBe(report)
    } finally {
      await cleanup()
    }
  })

  it("when the worker exits, the consumer is stopped, and nothing is reported", async () => {
    const pidFile = join(h.dir, "consumer.pid")
    const { env } = await h.vastEnv({ USE_SSL: "false", NULL_WORKER_DIR: root, CONSUMER_CMD: `echo $$ > "${pidFile}"; exec sleep 300` })
    const run = h.start(h.detachedScript, env)
    await h.recorder.waitFor(isReady)
    await eventually(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").endsWith("\n"), "the consumer's PID")
    const consumer = Number(readFileSync(pidFile, "utf8").trim())
    expect(alive(consumer)).toBe(true)
    const watcher = await h.watcherOf(run)
    run.child.kill("SIGTERM")
    expect(await run.exited).toBe(0)
    await eventually(() => !alive(consumer), "the consumer to stop")
    await eventually(() => !running(watcher), "the watcher to finish", 20_000)
    expect(h.recorder.errors()).toEqual([])
  })

  it("when the worker stops, the consumer's whole session is stopped: what left its group (timeout) gets TERM, and what ignores TERM is killed 10 s later (probe 37 M1)", async () => {
    const file = (name: string) => join(h.dir, name)
    // A job under `timeout` (its own process group) that writes a file at its TERM, one that ignores TERM, and the leader.
    const outside = `timeout 300 sh -c 'trap "echo T >> ${file("outside.terms")}; exit 0" TERM; echo $$ > ${file("outside.pid")}; while :; do sleep 0.1; done' &`
    const deaf = `sh -c 'trap "" TERM; echo $$ > ${file("deaf.pid")}; while :; do sleep 0.1; done' &`
    const { env } = await h.vastEnv({ USE_SSL: "false", NULL_WORKER_DIR: root, CONSUMER_CMD: `${outside} ${deaf} exec sleep 300` })
    const run = h.start(h.detachedScript, env)
    await h.recorder.waitFor(isReady)
    const pid = (name: string) => (existsSync(file(name)) && readFileSync(file(name), "utf8").endsWith("\n") ? Number(readFileSync(file(name), "utf8")) : 0)
    await eventually(() => pid("outside.pid") > 0 && pid("deaf.pid") > 0, "the consumer's jobs")
    const [outsidePid, deafPid] = [pid("outside.pid"), pid("deaf.pid")]
    try {
      const watcher = await h.watcherOf(run)
      run.child.kill("SIGTERM")
      expect(await run.exited).toBe(0)
      await eventually(() => existsSync(file("outside.terms")), "the job outside the group to get TERM")
      // Once or twice: each of the session's processes gets TERM, and `timeout` passes its own on to its child too; the
      // child's trap runs twice when the second comes while the first's is running (seen under load, 3 December).
      expect(readFileSync(file("outside.terms"), "utf8")).toMatch(/^T\n(T\n)?$/)
      await eventually(() => !alive(outsidePid), "the job outside the group to stop")
      const stopped = Date.now()
      // 10 s of the script's looks, each a second's sleep after a read of every process's /proc entry, which a loaded
      // machine slows: 12.4 s seen at a load average of 10. A script that never sent the KILL would never get there.
      await eventually(() => !alive(deafPid), "the job that ignores TERM to be killed", 30_000)
      expect(Date.now() - stopped).toBeGreaterThan(5_000)
      await eventually(() => !running(watcher), "the watcher to finish", 20_000)
      expect(h.recorder.errors()).toEqual([])
    } finally {
      for (const leftover of [outsidePid, deafPid]) if (alive(leftover)) process.kill(leftover, "SIGKILL")
    }
  }, 60_000)

  it("a consumer that goes with its worker's deliberate stop (the stop signal sent to every process) is not an error: no recycle, no report, the drain runs its course (probe 37 L2)", async () => {
    const receiver = await startReceiver()
    try {
      const pidFile = join(h.dir, "consumer.pid")
      const { env, workerPort } = await h.vastEnv({ USE_SSL: "false", NULL_WORKER_DIR: root, DRAIN_TIMEOUT: "2", CONSUMER_CMD: `echo $$ > "${pidFile}"; exec sleep 300` })
      const run = h.start(h.detachedScript, env)
      const ready = await h.recorder.waitFor(isReady)
      await eventually(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").endsWith("\n"), "the consumer's PID")
      const consumer = Number(readFileSync(pidFile, "utf8").trim())
      const auth = { url: ready.json?.["url"], signature: "x", reqnum: 1, request_idx: 1, endpoint: "e", cost: 100 }
      const payload = { lifetime: 300, on_close_route: `${receiver.url}/closed` }
      const created = await fetch(`http://127.0.0.1:${workerPort}/session/create`, { method: "POST", body: JSON.stringify({ auth_data: auth, payload }) })
      expect(created.status).toBe(201)
      const watcher = await h.watcherOf(run)
      const closed = receiver.next()
      run.child.kill("SIGTERM")
      process.kill(consumer, "SIGTERM")
      expect(await run.exited).toBe(0)
      expect((await closed).body).toMatchObject({ close_reason: "shutdown" })
      await eventually(() => !running(watcher), "the watcher to finish", 20_000)
      expect(h.recorder.errors()).toEqual([])
      const log = readFileSync(join(env["WORKSPACE_DIR"] ?? "", "null-worker.log"), "utf8")
      expect(log).toContain("the consumer exited with status 143 while the worker stops (not an error)")
      expect(log).not.toMatch(/ERROR|recycled the worker/)
    } finally {
      await cleanup()
    }
  })

  it.each([
    ["", ""],
    // A template's quoting: the worker reads " 18999" as 18999, and so must the script (probe 38 L2).
    [" ports written with spaces around them", " "]
  ])("a TERM to the whole process group (as `timeout` sends) still stops the consumer, not reported; the consumer found its worker's control port in WORKER_CONTROL_URL%s", async (_, space) => {
    const pidFile = join(h.dir, "consumer.pid")
    const urlFile = join(h.dir, "consumer.url")
    const { env } = await h.vastEnv({
      USE_SSL: "false",
      NULL_WORKER_DIR: root,
      CONSUMER_CMD: `echo "$WORKER_CONTROL_URL" > "${urlFile}"; echo $$ > "${pidFile}"; exec sleep 300`
    })
    const ports = { NULL_CONTROL_PORT: env["NULL_CONTROL_PORT"] ?? "", WORKER_HTTP_PORT: env["WORKER_HTTP_PORT"] ?? "" }
    for (const [name, value] of Object.entries(ports)) env[name] = `${space}${value}${space}`
    const run = h.start(h.detachedScript, env, { groupLeader: true })
    await h.recorder.waitFor(isReady)
    await eventually(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").endsWith("\n"), "the consumer's PID")
    const consumer = Number(readFileSync(pidFile, "utf8").trim())
    expect(readFileSync(urlFile, "utf8")).toBe(`http://127.0.0.1:${ports.NULL_CONTROL_PORT}\n`)
    const watcher = await h.watcherOf(run)
    try {
      process.kill(-(run.child.pid ?? 0), "SIGTERM")
      expect(await run.exited).toBe(0)
      await eventually(() => !alive(consumer), "the consumer to stop")
      await eventually(() => !running(watcher), "the watcher to finish", 20_000)
      expect(h.recorder.errors()).toEqual([])
    } finally {
      // Outside the group (setsid): if the watcher failed to stop it, nothing else would.
      if (alive(consumer)) process.kill(consumer, "SIGKILL")
    }
  })

  it.each([
    ["LOG_FORMAT=json", { LOG_FORMAT: "json" }],
    ["LOG_LEVEL=warning", { LOG_LEVEL: "warning" }]
  ])("a deliberate stop with %s is not reported as a kill", async (_, logging) => {
    const { env } = await h.vastEnv({ USE_SSL: "false", NULL_WORKER_DIR: root, CONSUMER_CMD: "exec sleep 300", ...logging })
    const run = h.start(h.detachedScript, env)
    await h.recorder.waitFor(isReady)
    const watcher = await h.watcherOf(run)
    run.child.kill("SIGTERM")
    expect(await run.exited).toBe(0)
    // Whatever the watcher reports, it reports before it ends.
    await eventually(() => !running(watcher), "the watcher to finish", 20_000)
    expect(h.recorder.errors()).toEqual([])
  })

  it("a worker killed early, in a workspace whose log ends with an earlier run's clean stop, is reported as killed", async () => {
    const first = await h.vastEnv({ USE_SSL: "false", NULL_WORKER_DIR: root, CONSUMER_CMD: "exec sleep 300" })
    const earlier = h.start(h.detachedScript, first.env)
    await h.recorder.waitFor(isReady)
    const earlierWatcher = await h.watcherOf(earlier)
    earlier.child.kill("SIGTERM")
    expect(await earlier.exited).toBe(0)
    await eventually(() => !running(earlierWatcher), "the first watcher to finish", 20_000)
    expect(readFileSync(join(first.workspace, "null-worker.log"), "utf8")).toContain('message="worker stopped"')
    expect(h.recorder.errors()).toEqual([])

    const again = await h.vastEnv({ USE_SSL: "false", NULL_WORKER_DIR: root, CONSUMER_CMD: "exec sleep 300", WORKSPACE_DIR: first.workspace })
    const run = h.start(h.detachedScript, again.env)
    await h.recorder.waitFor((report) => isReady(report) && report.json?.["url"] === `http://127.0.0.1:${again.workerPort}`)
    const watcher = await h.watcherOf(run)
    run.child.kill("SIGKILL")
    await run.exited
    await eventually(() => !running(watcher), "the watcher to finish", 20_000)
    expect(h.recorder.errors().map((report) => report.json?.["error_msg"])).toEqual(["the worker process was killed (no clean shutdown; out of memory?)"])
  })

  it("when the worker is killed outright, the consumer is stopped and the kill is reported", async () => {
    const pidFile = join(h.dir, "consumer.pid")
    const { env } = await h.vastEnv({ USE_SSL: "false", NULL_WORKER_DIR: root, CONSUMER_CMD: `echo $$ > "${pidFile}"; exec sleep 300` })
    const run = h.start(h.detachedScript, env)
    await h.recorder.waitFor(isReady)
    await eventually(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").endsWith("\n"), "the consumer's PID")
    const consumer = Number(readFileSync(pidFile, "utf8").trim())
    run.child.kill("SIGKILL")
    await run.exited
    await eventually(() => !alive(consumer), "the consumer to stop")
    const report = await h.recorder.waitFor((status) => String(status.json?.["error_msg"] ?? "").includes("killed"), 20_000)
    expect(report.json?.["error_msg"]).toBe("the worker process was killed (no clean shutdown; out of memory?)")
    // The log the deployment guide says to read names it too, before the report's own line.
    const logFile = join(env["WORKSPACE_DIR"] ?? "", "null-worker.log")
    await eventually(() => readFileSync(logFile, "utf8").includes("reported the error to "), "the report's line in the log")
    expect(readFileSync(logFile, "utf8")).toMatch(/ERROR: the worker process was killed \(no clean shutdown; out of memory\?\)\n.*reported the error to /)
  })

  it("under a launcher that never reaps, a worker killed outright (a zombie) is gone all the same: the consumer is stopped and the kill reported (probe 55 #2)", async () => {
    const [pidFile, workerPidFile] = [join(h.dir, "consumer.pid"), join(h.dir, "worker.pid")]
    // The launcher starts the script in the background, then becomes a process that never waits for it.
    const launcher = join(h.dir, "launcher.sh")
    writeFileSync(launcher, `bash "${h.detachedScript}" &\necho $! > "${workerPidFile}"\nexec sleep 300\n`)
    const { env } = await h.vastEnv({ USE_SSL: "false", NULL_WORKER_DIR: root, CONSUMER_CMD: `echo $$ > "${pidFile}"; exec sleep 300` })
    const run = h.start(launcher, env)
    await h.recorder.waitFor(isReady)
    await eventually(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").endsWith("\n"), "the consumer's PID")
    const [consumer, worker] = [pidFile, workerPidFile].map((file) => Number(readFileSync(file, "utf8").trim())) as [number, number]
    try {
      process.kill(worker, "SIGKILL")
      await eventually(() => !running(worker), "the worker to die")
      expect(alive(worker), "a zombie, not reaped").toBe(true)
      await eventually(() => !alive(consumer), "the consumer to stop", 20_000)
      const report = await h.recorder.waitFor((status) => String(status.json?.["error_msg"] ?? "").includes("killed"), 20_000)
      expect(report.json?.["error_msg"]).toBe("the worker process was killed (no clean shutdown; out of memory?)")
    } finally {
      // In its own session, the consumer outlives a failed run otherwise.
      if (alive(consumer)) process.kill(consumer, "SIGKILL")
      run.child.kill("SIGKILL")
      await run.exited
    }
  })
})
