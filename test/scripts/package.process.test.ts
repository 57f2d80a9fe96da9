/**
 * The package `npm pack` makes (README, "Installing the commands"): what it holds, and that its programs run from it
 * alone, with no node_modules beside them (each is a self-contained bundle).
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { childEnv } from "../support/process.js"

const root = fileURLToPath(new URL("../..", import.meta.url))
const dir = mkdtempSync(join(tmpdir(), "null-worker-pack-"))
let files: ReadonlyArray<string> = []
let unpacked = ""

/** What a user bundles of their own beside the build's (README, "Your own file", as it once said): never packed. */
const usersOwn = join(root, "dist", "mine", "dispatch.cjs")

beforeAll(() => {
  mkdirSync(dirname(usersOwn), { recursive: true })
  writeFileSync(usersOwn, "// the user's own code\n")
  // `npm test` built dist/ already: the pack does not build again (its `prepare` would).
  const answer = execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], { cwd: root, encoding: "utf8" })
  const [packed] = JSON.parse(answer) as ReadonlyArray<{ readonly filename: string; readonly files: ReadonlyArray<{ readonly path: string }> }>
  files = (packed?.files ?? []).map((file) => file.path)
  execFileSync("tar", ["-xzf", join(dir, packed?.filename ?? ""), "-C", dir])
  unpacked = join(dir, "package")
}, 60_000)
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  rmSync(dirname(usersOwn), { recursive: true, force: true })
})

describe("the package npm pack makes", () => {
  it("holds every command's bundle, the worker's code cache, start-vast.sh, the README and docs; no sources, tests or source maps", () => {
    const bin: Record<string, string> = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).bin
    for (const target of Object.values(bin)) expect(files).toContain(target)
    for (const file of ["dist/worker.cjs", "dist/worker.cjs.cache", "dist/sidecar.js", "dist/demo.js", "scripts/start-vast.sh", "scripts/built.mjs", "README.md", "docs/deploy-vast.md"]) {
      expect(files).toContain(file)
    }
    expect(files.filter((file) => file.endsWith(".map") || /^(src|test|examples|machines)\//.test(file) || file.endsWith(".ts"))).toEqual([])
  })

  it("holds only what the build makes in dist/: a file of the user's own there is left out (newcomer 39 #1: a dispatcher bundled into dist/mine/ shipped)", () => {
    expect(files.filter((file) => file.startsWith("dist/mine/"))).toEqual([])
    // Every bundle the build names, and nothing else of dist/ but the worker's code cache and the lock's hash.
    const built = readdirSync(join(root, "dist"), { recursive: true, encoding: "utf8" })
      .filter((file) => !file.endsWith(".map") && !file.startsWith("mine"))
      .filter((file) => statSync(join(root, "dist", file)).isFile())
      .map((file) => `dist/${file}`)
    expect(files.filter((file) => file.startsWith("dist/")).sort()).toEqual(built.sort())
  })

  it("declares no dependency (the bundles hold the libraries): an install adds nothing beside them", () => {
    const manifest = JSON.parse(readFileSync(join(unpacked, "package.json"), "utf8"))
    expect([manifest.dependencies, manifest.optionalDependencies, manifest.peerDependencies]).toEqual([undefined, undefined, undefined])
  })

  it("its npm scripts that run a program run there too (npm start), and npm test says it needs a clone", () => {
    const env = { ...childEnv(), HOME: dir }
    const start = spawnSync("npm", ["start", "--silent", "--", "--version"], { cwd: unpacked, encoding: "utf8", env })
    expect([start.status, start.stdout.split(" ")[0], start.stderr]).toEqual([0, "null-worker", ""])
    const test = spawnSync("npm", ["test", "--silent"], { cwd: unpacked, encoding: "utf8", env })
    expect([test.status, test.stderr.split("\n")[0]]).toEqual([
      1,
      "this is the installed package: it holds no sources or tests; npm test runs in a clone of the repository"
    ])
  })

  it("its commands run from the unpacked package alone", () => {
    for (const [program, name] of [["dist/client.js", "null-worker-client"], ["dist/serverless.js", "null-worker-serverless"], ["dist/main.js", "null-worker"]] as const) {
      const run = spawnSync(process.execPath, [join(unpacked, program), "--version"], { cwd: unpacked, encoding: "utf8", env: childEnv() })
      expect([run.status, run.stdout.split(" ")[0], run.stderr]).toEqual([0, name, ""])
    }
  })
})
