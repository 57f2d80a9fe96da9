// Run before the npm scripts that start a program, and before npm test: on a fresh clone without `npm install` (which builds dist/), say
// so in one line instead of Node's MODULE_NOT_FOUND stack trace. Plain Node, no dependencies: node_modules may be missing.
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
// `--dependencies`: only node_modules (npm test builds dist/ itself).
const required = process.argv.includes("--dependencies") ? ["node_modules"] : ["node_modules", "dist/main.js"]
const missing = required.filter((path) => !existsSync(`${root}${path}`))
if (missing.length > 0) {
  process.stderr.write(`${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} missing: run npm install first (it installs the dependencies and builds dist/)\n`)
  process.exit(1)
}
