/**
 * What every start-vast.sh test needs: a test CA (once per file), a fresh signer, autoscaler recorder and
 * temporary directory per test, the environment Vast gives an instance, and cleanup of what was started.
 */
import { execFileSync } from "node:child_process"
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, afterEach, beforeAll, beforeEach, expect } from "vitest"
import { alive, freePort } from "../support/process.js"
import { FakeSigner, type Report, ReportRecorder, runScript, type ScriptRun, TestCa } from "./fakes.js"

export const root = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "")
export const scriptInCheckout = join(root, "scripts", "start-vast.sh")
export const mainJs = join(root, "dist", "main.js")
/** The fields of the launcher's report, in order. */
export const reportKeys = ["id", "mtoken", "version", "error_msg", "url"]

export const isReady = (report: Report) => report.json?.["max_perf"] === 100

export { alive } from "../support/process.js"

/** Alive and not a zombie: a watcher left to init shows as a zombie until it is reaped. */
export const running = (pid: number): boolean => {
  if (!alive(pid)) return false
  try {
    // The state follows the command name, which is in parentheses and may hold anything.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat[stat.lastIndexOf(")") + 2] !== "Z"
  } catch {
    return true
  }
}

/** The processes whose parent is `pid`. */
export const childrenOf = (pid: number): Array<number> =>
  execFileSync("ps", ["-A", "-o", "pid=,ppid="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((row) => row.trim().split(/\s+/).map(Number))
    .filter(([, ppid]) => ppid === pid)
    .map(([child = 0]) => child)

export const eventually = async (condition: () => boolean, what: string, ms = 5000) => {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export class DeployHarness {
  ca!: TestCa
  signer!: FakeSigner
  recorder!: ReportRecorder
  /** A temporary directory for this test. */
  dir!: string
  /** A copy of the script outside the checkout, as on an instance that fetched only the script. */
  detachedScript!: string
  private readonly runs: Array<ScriptRun> = []

  /** Registers the hooks of the current file and returns the harness they fill. */
  static use(): DeployHarness {
    const h = new DeployHarness()
    beforeAll(() => {
      h.ca = TestCa.make()
    })
    afterAll(() => rmSync(h.ca.dir, { recursive: true, force: true }))
    beforeEach(async () => {
      h.signer = await FakeSigner.start(h.ca)
      h.recorder = await ReportRecorder.start()
      h.dir = mkdtempSync(join(tmpdir(), "null-worker-deploy-"))
      h.detachedScript = join(h.dir, "start-vast.sh")
      copyFileSync(scriptInCheckout, h.detachedScript)
    })
    afterEach(async () => {
      for (const run of h.runs.splice(0)) {
        if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill("SIGKILL")
        await run.exited
      }
      await h.signer.close()
      await h.recorder.close()
      rmSync(h.dir, { recursive: true, force: true })
    })
    return h
  }

  start(script: string, env: Record<string, string>, options: { readonly groupLeader?: boolean; readonly cwd?: string } = {}): ScriptRun {
    const run = runScript(script, env, options)
    this.runs.push(run)
    const log = join(env["WORKSPACE_DIR"] ?? "", "null-worker.log")
    this.recorder.diagnostics = () =>
      `script output:\n${run.output()}\nend of ${log}:\n${existsSync(log) ? readFileSync(log, "utf8").slice(-4000) : "(none)"}`
    return run
  }

  /**
   * The watcher subshell start-vast.sh leaves beside the worker it became (its only child) when CONSUMER_CMD is
   * set. Once it is gone, everything the script will ever report has been reported.
   */
  async watcherOf(run: ScriptRun): Promise<number> {
    const worker = run.child.pid ?? 0
    await eventually(() => childrenOf(worker).length === 1, "the watcher subshell")
    return childrenOf(worker)[0] ?? 0
  }

  /** The environment Vast gives an instance, pointed at the fakes, with free loopback ports. */
  async vastEnv(extra: Record<string, string> = {}) {
    const [workerPort, httpPort, controlPort] = [await freePort(), await freePort(), await freePort()]
    const env: Record<string, string> = {
      WORKSPACE_DIR: join(this.dir, "workspace"),
      REPORT_ADDR: this.recorder.url,
      CONTAINER_ID: "31337",
      MASTER_TOKEN: "tok",
      WORKER_PORT: String(workerPort),
      WORKER_HTTP_PORT: String(httpPort),
      NULL_CONTROL_PORT: String(controlPort),
      PUBLIC_IPADDR: "127.0.0.1",
      [`VAST_TCP_PORT_${workerPort}`]: String(workerPort),
      SIGN_CERT_URL: `${this.signer.url}/api/v0/sign_cert/?instance_id=31337`,
      SIGN_CERT_ATTEMPTS: "1",
      TLS_KEY_FILE: join(this.dir, "etc", "instance.key"),
      TLS_CERT_FILE: join(this.dir, "etc", "instance.crt"),
      NULL_FORCE_UPDATE_FILE: join(this.dir, "force_update"),
      UNSECURED: "true",
      HEALTHCHECK_INTERVAL: "0.2",
      NPM_CONFIG_UPDATE_NOTIFIER: "false",
      ...extra
    }
    return { env, workerPort, workspace: env["WORKSPACE_DIR"] ?? "" }
  }

  /** The run failed before the worker started: exit 1, and exactly one report, JSON with the launcher's fields. */
  async launchFailure(run: ScriptRun): Promise<Record<string, unknown>> {
    expect(await run.exited, run.output()).toBe(1)
    // Reports are posted before the script exits, so nothing more can come.
    expect(this.recorder.statuses.map((report) => report.text)).toHaveLength(1)
    const json = this.recorder.statuses[0]?.json
    expect(json, this.recorder.statuses[0]?.text).toBeDefined()
    expect(Object.keys(json ?? {})).toEqual(reportKeys)
    return json ?? {}
  }
}
