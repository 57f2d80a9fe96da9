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
  it("scales 0 → 2 → 0 with short timings, every callback arrives, and it exits 0", async () => {
    const demo = spawnProcess(process.execPath, [demoJs, "--count", "2", "--interval", "0.5", "--plateau", "0.5", "--inactivity-timeout", "0.5"], {})
    running.push(demo)
    expect(await demo.exited, demo.output()).toBe(0)
    const output = demo.output()
    expect(output).toContain("workers: 2")
    expect(output.match(/on_close callback: .*"close_reason":"ended"/g)).toHaveLength(2)
    expect(output).toContain("peak workers: 2; callbacks: 2; workers left: 0")
    expect(output).toContain("demo OK")
  }, 90_000)
})
