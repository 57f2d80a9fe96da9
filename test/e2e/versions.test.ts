/** `--version` of every program and example: one line, `<name> <version>`, the version package.json's. */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const dist = (file: string) => fileURLToPath(new URL(`../../dist/${file}`, import.meta.url))
const { version } = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { version: string }

describe("--version", () => {
  it.each([
    ["main.js", "null-worker"],
    ["client.js", "null-worker-client"],
    ["serverless.js", "null-worker-serverless"],
    ["demo.js", "null-worker demo"],
    ["examples/redis-dispatcher.js", "redis example dispatcher"],
    ["examples/redis-example.js", "redis example"],
    ["examples/autoscale-example.js", "autoscale example"]
  ])("%s prints one line, '%s <package.json's version>'", (file, name) => {
    expect(execFileSync(process.execPath, [dist(file), "--version"], { encoding: "utf8", timeout: 10_000 })).toBe(`${name} ${version}\n`)
  })
})
