import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { type Spawned, spawnProcess } from "../support/process.js"

const demoJs = fileURLToPath(new URL("../../dist/demo.js", import.meta.url))
const running: Array<Spawned> = []

afterEach(async () => {
  for (const demo of running.splice(0)) {
    if (demo.child.exitCode === null) demo.child.kill("SIGTERM")
    await demo.exited
  }
})

describe("npm run demo (dist/demo.js)", () => {
  it("scales 0 → 3 and steps down 3 → 2 → 1 → 0 as the sessions end one by one; every callback arrives; it exits 0", async () => {
    const demo = spawnProcess(
      process.execPath,
      [demoJs, "--count", "3", "--interval", "1", "--plateau", "0.5", "--inactivity-timeout", "0.5"],
      {}
    )
    running.push(demo)
    expect(await demo.exited, demo.output()).toBe(0)
    const output = demo.output()
    // The worker count each time it changed, as the demo printed it.
    const counts = [...output.matchAll(/\] workers: (\d+)/g)].map((match) => Number(match[1]))
    const peak = counts.indexOf(3)
    expect(peak, output).toBeGreaterThan(0)
    // Each worker stops inactivity_timeout after its own session ended, not all at once.
    expect(counts.slice(peak), output).toEqual([3, 2, 1, 0])
    expect(output.match(/on_close callback: .*"close_reason":"ended"/g)).toHaveLength(3)
    expect(output).toContain("peak workers: 3; callbacks: 3; workers left: 0")
    expect(output).toContain("demo OK")
  }, 90_000)
})
