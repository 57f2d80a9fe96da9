// Run before the npm scripts that start a program: on a fresh clone without `npm install` (which builds dist/), say
// so in one line instead of Node's MODULE_NOT_FOUND stack trace. Plain Node, no dependencies: node_modules may be missing.
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const missing = ["node_modules", "dist/main.js"].filter((path) => !existsSync(`${root}${path}`))
if (missing.length > 0) {
  process.stderr.write(`${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} missing: run npm install first (it installs the dependencies and builds dist/)\n`)
  process.exit(1)
}
