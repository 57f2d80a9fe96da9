// `node scripts/free-ports.mjs N`: N free loopback ports, different from each other, on one line (the README's
// by-hand block reads them into its variables).
import { freePort } from "./freePort.mjs"

const count = Number(process.argv[2] ?? "1")
if (!Number.isInteger(count) || count < 1 || count > 100) {
  process.stderr.write("usage: node scripts/free-ports.mjs N (N from 1 to 100)\n")
  process.exit(1)
}
const ports = []
for (let i = 0; i < count; i++) ports.push(await freePort())
process.stdout.write(`${ports.join(" ")}\n`)
