/** `scripts/built.mjs`, which the npm scripts that start a program (and npm test) run first: a fresh clone without `npm install` is told so. */
import { createHash } from "node:crypto"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"

const script = fileURLToPath(new URL("../../scripts/built.mjs", import.meta.url))
const packageJson = fileURLToPath(new URL("../../package.json", import.meta.url))
const scripts: Record<string, string> = JSON.parse(readFileSync(packageJson, "utf8")).scripts
const root = fileURLToPath(new URL("../..", import.meta.url))
const dirs: Array<string> = []
const groups: Array<ChildProcess> = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  for (const child of groups.splice(0)) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL")
    } catch {
      // The group is gone already.
    }
  }
})

/** A checkout as cloned: scripts/built.mjs, and no node_modules or dist/. Removed after the test. */
const freshCheckout = (): string => {
  const clone = mkdtempSync(join(tmpdir(), "null-worker-fresh-"))
  dirs.push(clone)
  mkdirSync(join(clone, "scripts"))
  copyFileSync(script, join(clone, "scripts", "built.mjs"))
  return clone
}

describe("scripts/built.mjs", () => {
  it("in a checkout without node_modules or dist/: one line saying to run npm install, exit 1; in this one, nothing, exit 0", () => {
    const clone = freshCheckout()
    const fresh = spawnSync(process.execPath, [join(clone, "scripts", "built.mjs")], { encoding: "utf8" })
    expect([fresh.status, fresh.stdout, fresh.stderr]).toEqual([
      1,
      "",
      "node_modules and dist/main.js are missing: run npm install first (it installs the dependencies and builds dist/)\n"
    ])
    const here = spawnSync(process.execPath, [script], { encoding: "utf8" })
    expect([here.status, here.stdout, here.stderr]).toEqual([0, "", ""])
  })

  it("--dependencies (before npm test, which builds dist/ itself): only node_modules is asked for", () => {
    const clone = freshCheckout()
    const fresh = spawnSync(process.execPath, [join(clone, "scripts", "built.mjs"), "--dependencies"], { encoding: "utf8" })
    expect([fresh.status, fresh.stderr]).toEqual([1, "node_modules is missing: run npm install first (it installs the dependencies and builds dist/)\n"])
    mkdirSync(join(clone, "node_modules"))
    const installed = spawnSync(process.execPath, [join(clone, "scripts", "built.mjs"), "--dependencies"], { encoding: "utf8" })
    expect([installed.status, installed.stderr]).toEqual([0, ""])
  })

  it("every npm script that runs a program from dist/ checks first, in its own line or in its pre-script", () => {
    const running = Object.entries(scripts).filter(([, command]) => /\bnode dist\//.test(command))
    expect(running.map(([name]) => name)).toContain("start")
    const unchecked = running.filter(([name, command]) => !command.startsWith("node scripts/built.mjs") && scripts[`pre${name}`] !== "node scripts/built.mjs")
    expect(unchecked).toEqual([])
  })

  it("a checkout whose sources changed after the build: a one-line warning naming the file, and the program still runs (exit 0)", () => {
    const clone = freshCheckout()
    mkdirSync(join(clone, "node_modules"))
    mkdirSync(join(clone, "dist"))
    mkdirSync(join(clone, "src", "worker"), { recursive: true })
    writeFileSync(join(clone, "dist", "main.js"), "")
    writeFileSync(join(clone, "src", "worker", "main.ts"), "")
    const builtAt = new Date("2026-01-02T00:00:00Z")
    utimesSync(join(clone, "dist", "main.js"), builtAt, builtAt)
    const before = new Date("2026-01-01T00:00:00Z")
    utimesSync(join(clone, "src", "worker", "main.ts"), before, before)
    const fresh = spawnSync(process.execPath, [join(clone, "scripts", "built.mjs")], { encoding: "utf8" })
    expect([fresh.status, fresh.stderr]).toEqual([0, ""])
    const after = new Date("2026-01-03T00:00:00Z")
    utimesSync(join(clone, "src", "worker", "main.ts"), after, after)
    const stale = spawnSync(process.execPath, [join(clone, "scripts", "built.mjs")], { encoding: "utf8" })
    expect([stale.status, stale.stderr]).toEqual([0, "warning: src/worker/main.ts changed after dist/ was built: run npm run build to run what the sources say\n"])
    // A newer build script (the bundles' settings), the sources as built: named too.
    utimesSync(join(clone, "src", "worker", "main.ts"), before, before)
    writeFileSync(join(clone, "scripts", "build.mjs"), "")
    utimesSync(join(clone, "scripts", "build.mjs"), after, after)
    const rebundled = spawnSync(process.execPath, [join(clone, "scripts", "built.mjs")], { encoding: "utf8" })
    expect([rebundled.status, rebundled.stderr]).toEqual([0, "warning: scripts/build.mjs changed after dist/ was built: run npm run build to run what the sources say\n"])
    // A newer lock (a dependency bumped): the bundles hold the dependencies, so npm install, which builds again.
    writeFileSync(join(clone, "package-lock.json"), "{}")
    utimesSync(join(clone, "package-lock.json"), after, after)
    const locked = spawnSync(process.execPath, [join(clone, "scripts", "built.mjs")], { encoding: "utf8" })
    expect([locked.status, locked.stderr]).toEqual([0, "warning: package-lock.json changed after dist/ was built: run npm install (it builds dist/ again)\n"])
    // The lock the build recorded, written again as it was (`npm prune` in deploy-vast.md's Dockerfile): no warning.
    utimesSync(join(clone, "scripts", "build.mjs"), before, before)
    writeFileSync(join(clone, "dist", "package-lock.sha256"), `${createHash("sha256").update("{}").digest("hex")}\n`)
    const rewritten = spawnSync(process.execPath, [join(clone, "scripts", "built.mjs")], { encoding: "utf8" })
    expect([rewritten.status, rewritten.stderr]).toEqual([0, ""])
    writeFileSync(join(clone, "package-lock.json"), "{ }")
    utimesSync(join(clone, "package-lock.json"), after, after)
    const bumped = spawnSync(process.execPath, [join(clone, "scripts", "built.mjs")], { encoding: "utf8" })
    expect([bumped.status, bumped.stderr]).toEqual([0, "warning: package-lock.json changed after dist/ was built: run npm install (it builds dist/ again)\n"])
    // npm test builds dist/ itself: it is not warned.
    const forTests = spawnSync(process.execPath, [join(clone, "scripts", "built.mjs"), "--dependencies"], { encoding: "utf8" })
    expect([forTests.status, forTests.stderr]).toEqual([0, ""])
  })

  it("every npm script that runs a program from dist/ execs it, so a signal sent to npm reaches the program", () => {
    const running = Object.entries(scripts).filter(([, command]) => /\bnode dist\//.test(command))
    expect(running.filter(([, command]) => !/(?:^|&& )exec node dist\/[^&|;]*$/.test(command))).toEqual([])
  })

  /** `npm run serverless` in a process group of its own, its output, and when it is listening and when its output ended. */
  const npmServerless = () => {
    const npm = spawn("npm", ["run", "--silent", "serverless", "--", "--port", "0"], { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"] })
    groups.push(npm)
    let output = ""
    const listening = new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString("utf8")
        if (output.includes("serverless listening on")) resolve()
      }
      npm.stdout.on("data", onData)
      npm.stderr.on("data", onData)
    })
    // `close`: the process has exited and its output has all been read.
    const closed = new Promise<number | null>((resolve) => npm.once("close", (code) => resolve(code)))
    return { npm, listening, closed, output: () => output }
  }

  it("npm run serverless sent to the background and given SIGTERM: the serverless gets it, stops and exits with npm", async () => {
    const run = npmServerless()
    await run.listening
    run.npm.kill("SIGTERM")
    await run.closed
    expect(run.output()).toContain('message="stopping: 0 worker(s)"')
    expect(run.output()).toContain('message="stopped"')
  })

  it("Ctrl-C in a terminal under npm run (SIGINT to the whole group: npm and the program it execs): the serverless stops in order, not at once", async () => {
    const run = npmServerless()
    await run.listening
    process.kill(-(run.npm.pid ?? 0), "SIGINT")
    await run.closed
    expect(run.output()).toContain('message="stopping: 0 worker(s)"')
    expect(run.output()).toContain('message="stopped"')
  })

  it("npm start in a checkout without npm install: the one line, exit 1, not Node's stack", () => {
    const clone = freshCheckout()
    copyFileSync(packageJson, join(clone, "package.json"))
    const started = spawnSync("npm", ["start"], { cwd: clone, encoding: "utf8" })
    expect(started.status).toBe(1)
    expect(started.stderr).toContain("node_modules and dist/main.js are missing: run npm install first")
    expect(started.stderr).not.toContain("Cannot find module")
  })
})
