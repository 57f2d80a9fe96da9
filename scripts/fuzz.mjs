// npm run fuzz -- --runs N [--write-docs]: the property tests of test/property/ with N generated request sequences
// (and N/10 pool schedules), then their figures printed, and with --write-docs written into docs/reliability.md.
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { refuse, scriptArgs } from "./scriptArgs.mjs"

const usage = `usage: npm run fuzz -- [--runs N] [--write-docs]

Runs the property tests of test/property/ with N generated request sequences (default 100000) and N/10 pool
schedules, then prints their figures. With --write-docs it also writes them into docs/reliability.md, between the
fuzz markers (a tracked file, whose figures are the published ones: commit the change or discard it).
`
const options = scriptArgs({ runs: { type: "string", default: "100000" }, "write-docs": { type: "boolean", default: false } }, usage)
const runs = Number(options.runs)
if (!/^[0-9]+$/.test(options.runs) || !Number.isSafeInteger(runs) || runs < 1) refuse("runs", "a whole number above 0", options.runs, usage)
const poolRuns = Math.max(100, Math.floor(runs / 10))
const reportDir = mkdtempSync(join(tmpdir(), "null-worker-fuzz-"))
const report = join(reportDir, "routes.json")
const started = Date.now()
const result = spawnSync("npx", ["vitest", "run", "test/property"], {
  stdio: "inherit",
  env: { ...process.env, FUZZ_RUNS: String(runs), FUZZ_POOL_RUNS: String(poolRuns), FUZZ_REPORT: report },
  timeout: 6 * 60 * 60 * 1000
})
const seconds = Math.round((Date.now() - started) / 1000)
let figures
try {
  figures = JSON.parse(readFileSync(report, "utf8"))
} catch (error) {
  // The tests did not get as far as their figures (they failed to start, or were stopped): their output says why.
  process.stderr.write(`fuzz: the property tests wrote no figures (vitest exit ${result.status ?? result.signal}: ${error.code ?? error.message})\n`)
  process.exitCode = result.status || 1
} finally {
  // Read once, then gone: a run leaves nothing in /tmp, also when the tests wrote no figures.
  rmSync(reportDir, { recursive: true, force: true })
}
if (figures === undefined) process.exit()
const statuses = Object.entries(figures.statuses)
  .sort(([a], [b]) => Number(a) - Number(b))
  .map(([status, count]) => `${status}: ${count}`)
  .join(", ")
const section = [
  "<!-- fuzz:start -->",
  `Last run: \`npm run fuzz -- --runs ${runs}\` on ${new Date().toISOString().slice(0, 10)} (Node ${process.version}), ${seconds} s in all, exit ${result.status}.`,
  "",
  "| figure | value |",
  "|---|---|",
  `| request sequences (routes property) | ${figures.sequences} |`,
  `| requests sent | ${figures.requests} |`,
  `| answers by status | ${statuses} |`,
  `| sessions created / callbacks recorded (exactly one for each session created with an \`on_close_route\`, none for the others) | ${figures.created} / ${figures.callbacks} |`,
  `| pool schedules (TestClock property) | ${poolRuns} |`,
  `| invariant violations | ${figures.violations.length} |`,
  "<!-- fuzz:end -->"
].join("\n")
if (options["write-docs"]) {
  const doc = "docs/reliability.md"
  const text = readFileSync(doc, "utf8")
  const start = text.indexOf("<!-- fuzz:start -->")
  const end = text.indexOf("<!-- fuzz:end -->")
  writeFileSync(doc, start >= 0 && end > start ? text.slice(0, start) + section + text.slice(end + "<!-- fuzz:end -->".length) : `${text}\n${section}\n`)
}
process.stdout.write(`${section}\n`)
process.exit(result.status ?? 1)
