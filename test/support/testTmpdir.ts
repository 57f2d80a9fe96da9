/**
 * vitest's global setup: every temporary file the tests make (`os.tmpdir()`, read from `TMPDIR` at each call) goes into
 * one directory of this run, removed when the run ends. A test that fails, or a process killed outright, before its own
 * clean-up then leaves nothing in the machine's /tmp (a newcomer found 78 directories left by each run).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), "null-worker-tests-"))
  // Set before the test workers start: they, and the processes tests start with `process.env`, inherit it.
  process.env["TMPDIR"] = dir
  return () => rmSync(dir, { recursive: true, force: true })
}
