/** `scripts/built.mjs`, which the npm scripts that start a program (and npm test) run first: a fresh clone without `npm install` is told so. */
import { spawnSync } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"

const script = fileURLToPath(new URL("../../scripts/built.mjs", import.meta.url))
const packageJson = fileURLToPath(new URL("../../package.json", import.meta.url))
const scripts: Record<string, string> = JSON.parse(readFileSync(packageJson, "utf8")).scripts
const dirs: Array<string> = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
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

  it("npm start in a checkout without npm install: the one line, exit 1, not Node's stack", () => {
    const clone = freshCheckout()
    copyFileSync(packageJson, join(clone, "package.json"))
    const started = spawnSync("npm", ["start"], { cwd: clone, encoding: "utf8" })
    expect(started.status).toBe(1)
    expect(started.stderr).toContain("node_modules and dist/main.js are missing: run npm install first")
    expect(started.stderr).not.toContain("Cannot find module")
  })
})
