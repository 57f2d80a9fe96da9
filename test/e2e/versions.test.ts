/** `--version` of every program and example: one line, `<name> <version>`, the version package.json's. */
import { execFileSync, spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { childEnv } from "../support/process.js"

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
    ["examples/autoscale-example.js", "autoscale example"],
    ["examples/reserve-one.js", "reserve-one example"],
    ["examples/redis-consumer.js", "redis example consumer"],
    ["examples/autoscale-consumer.js", "autoscale example consumer"]
  ])("%s prints one line, '%s <package.json's version>'", (file, name) => {
    expect(execFileSync(process.execPath, [dist(file), "--version"], { encoding: "utf8", timeout: 10_000 })).toBe(`${name} ${version}\n`)
  })
})

describe("programs configured by the environment only", () => {
  const programs = [
    ["main.js", "null-worker"],
    ["examples/reserve-one.js", "reserve-one example"],
    ["examples/redis-consumer.js", "redis example consumer"],
    ["examples/autoscale-consumer.js", "autoscale example consumer"]
  ] as const

  it.each(programs)("%s --help prints its environment and runs nothing (exit 0)", (file) => {
    // No VAST_API_KEY, no REDIS_URL, no worker settings: a program that ran would fail or wait, not exit 0 at once.
    const help = spawnSync(process.execPath, [dist(file), "--help"], { encoding: "utf8", timeout: 10_000, env: childEnv() })
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/REDIS_URL|VAST_API_KEY|WORKER_PORT/)
    expect(help.stderr).toBe("")
  })

  it.each([
    ["examples/redis-consumer.js", { SIDECAR_PORT: "abc" }, "consumer: SIDECAR_PORT: must be a port number from 1 to 65535\n"],
    ["examples/redis-consumer.js", { SIDECAR_PORT: "70000" }, "consumer: SIDECAR_PORT: must be a port number from 1 to 65535\n"],
    ["examples/redis-consumer.js", { SIDECAR_PORT: "" }, "consumer: SIDECAR_PORT: is set but empty\n"],
    ["examples/redis-consumer.js", { WORK_MS: "abc" }, "consumer: WORK_MS: must be a whole number of milliseconds, from 0 to 3600000\n"],
    ["examples/autoscale-consumer.js", { SIDECAR_PORT: "0" }, "consumer: SIDECAR_PORT: must be a port number from 1 to 65535\n"],
    ["examples/autoscale-consumer.js", { SIDECAR_PORT: "abc" }, "consumer: SIDECAR_PORT: must be a port number from 1 to 65535\n"]
  ] as const)("%s with %o stops at once: one line naming the variable, exit 1", (file, env, line) => {
    // Redis and the worker are not there: a consumer that started would wait for them, not exit.
    const refused = spawnSync(process.execPath, [dist(file)], {
      encoding: "utf8",
      timeout: 10_000,
      env: { ...childEnv(), REDIS_URL: "redis://127.0.0.1:1", WORKER_CONTROL_URL: "http://127.0.0.1:1", ...env }
    })
    expect([refused.status, refused.stderr]).toEqual([1, line])
  })

  it.each(programs)("%s refuses an argument it does not know, naming it, and runs nothing (exit 1)", (file, name) => {
    const refused = spawnSync(process.execPath, [dist(file), "--hepl"], { encoding: "utf8", timeout: 10_000, env: childEnv() })
    expect(refused.status).toBe(1)
    expect(refused.stdout).toBe("")
    expect(refused.stderr).toBe(`${name}: unknown argument "--hepl": it takes its settings from the environment (--help lists them)\n`)
  })
})
