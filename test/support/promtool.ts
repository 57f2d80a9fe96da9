import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** Whether Debian's `promtool` (package prometheus) is installed. CI installs it; a missing one fails there. */
export const hasPromtool = (() => {
  try {
    execFileSync("promtool", ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

/** Skip a promtool test locally when it is missing; under CI never skip (the test then fails). */
export const skipWithoutPromtool = !hasPromtool && process.env["CI"] === undefined
if (skipWithoutPromtool) process.stdout.write("promtool checks skipped: promtool is not installed (Debian/Ubuntu: apt-get install prometheus)\n")

/** `promtool check metrics` on an exposition: exit code 0 when it is valid, with what promtool said. */
export const promtoolCheck = async (exposition: string): Promise<{ readonly code: number | null; readonly output: string }> => {
  const dir = mkdtempSync(join(tmpdir(), "null-metrics-"))
  try {
    const file = join(dir, "metrics.txt")
    writeFileSync(file, exposition)
    // promtool reads the exposition on stdin; it exits non-zero (and says why) on a problem.
    return await new Promise((resolve, reject) => {
      const child = spawn("sh", ["-c", 'promtool check metrics < "$1"', "sh", file], { stdio: ["ignore", "pipe", "pipe"] })
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
      child.once("error", reject)
      child.once("exit", (code) => resolve({ code, output }))
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
