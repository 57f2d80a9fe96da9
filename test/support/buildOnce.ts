/**
 * vitest's global setup: builds `dist/` once, before any test file runs, when a program the tests start is missing
 * (a test file run alone on a fresh checkout). `npm test` builds first, so there this only looks. No test file builds
 * on its own: a build rewrites `dist/` in place, and a program another file starts meanwhile reads half a bundle (a
 * `SyntaxError`, or a serverless that never listens).
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))
const programs = ["main.js", "worker.cjs", "client.js", "serverless.js", "sidecar.js", "demo.js", "examples/redis-example.js", "examples/autoscale-example.js"]

export default function setup(): void {
  if (programs.every((program) => existsSync(join(root, "dist", program)))) return
  execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, stdio: "inherit" })
}
