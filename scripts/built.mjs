// Run before the npm scripts that start a program, and before npm test: on a fresh clone without `npm install` (which builds dist/), say
// so in one line instead of Node's MODULE_NOT_FOUND stack trace; and say when the sources changed after the last build, since the
// scripts run dist/ as it was built. Plain Node, no dependencies: node_modules may be missing.
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
// `--dependencies`: only node_modules (npm test builds dist/ itself).
const onlyDependencies = process.argv.includes("--dependencies")
// The package `npm pack` makes ships dist/ without src/: its bundles hold the libraries, so it needs no node_modules,
// and it has no sources to be newer than dist/ nor tests to run.
const installedPackage = !existsSync(`${root}src`) && existsSync(`${root}dist/main.js`)
if (installedPackage) {
  if (onlyDependencies) {
    process.stderr.write("this is the installed package: it holds no sources or tests; npm test runs in a clone of the repository\n")
    process.exit(1)
  }
  process.exit(0)
}
const required = onlyDependencies ? ["node_modules"] : ["node_modules", "dist/main.js"]
const missing = required.filter((path) => !existsSync(`${root}${path}`))
if (missing.length > 0) {
  process.stderr.write(`${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} missing: run npm install first (it installs the dependencies and builds dist/)\n`)
  process.exit(1)
}

/** The first file under `dir` changed after `since` (ms), as a path from the checkout's root, or null. */
const changedAfter = (dir, since) => {
  let entries
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true })
  } catch {
    return null
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`
    if (entry.isDirectory()) {
      const found = changedAfter(path, since)
      if (found !== null) return found
    } else if (entry.isFile() && statSync(join(root, path)).mtimeMs > since) return path
  }
  return null
}

if (!onlyDependencies) {
  // A warning, not a refusal: a checkout whose clock or copy left odd times must still run.
  const built = statSync(join(root, "dist/main.js")).mtimeMs
  const changed = ["src", "machines", "examples"].map((dir) => changedAfter(dir, built)).find((path) => path !== null)
  // The bundles hold the dependencies too: a newer lock (a `git pull` that bumped one) needs them installed first.
  const newer = (file) => statSync(join(root, file), { throwIfNoEntry: false })?.mtimeMs > built
  // By content, once its time says it may have changed: `npm prune` writes the same lock again.
  const lockChanged = () => {
    try {
      const hash = createHash("sha256").update(readFileSync(join(root, "package-lock.json"))).digest("hex")
      return readFileSync(join(root, "dist/package-lock.sha256"), "utf8").trim() !== hash
    } catch {
      return true
    }
  }
  if (newer("package-lock.json") && lockChanged()) process.stderr.write("warning: package-lock.json changed after dist/ was built: run npm install (it builds dist/ again)\n")
  else if (changed !== undefined || newer("scripts/build.mjs")) {
    process.stderr.write(`warning: ${changed ?? "scripts/build.mjs"} changed after dist/ was built: run npm run build to run what the sources say\n`)
  }
}
