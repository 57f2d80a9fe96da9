import { execSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { budgetFor, callbackConcurrencyWarning, RESERVED_DESCRIPTORS, softFdLimit } from "../../../src/worker/http/connectionBudget.js"

describe("connection caps from the open-files limit", () => {
  it("without a known limit the configured cap is used", () => {
    expect(budgetFor({ configured: 512, fdLimit: null, callbackConcurrency: 16 })).toEqual({ public: 512, webhook: 512, control: 128, fdLimit: null })
  })
  it("a high limit leaves the configured cap alone", () => {
    expect(budgetFor({ configured: 512, fdLimit: 1_048_576, callbackConcurrency: 16 })).toMatchObject({ public: 512, webhook: 512, control: 128 })
  })
  it("a low limit shares what is left after the reserve, so the caps together never reach it", () => {
    const budget = budgetFor({ configured: 512, fdLimit: 256, callbackConcurrency: 16 })
    expect(budget.public + budget.webhook + budget.control).toBeLessThanOrEqual(256 - RESERVED_DESCRIPTORS - 16)
    expect(budget.public).toBeGreaterThan(budget.webhook)
    expect(budget.control).toBeGreaterThanOrEqual(4)
  })
  it.runIf(process.platform === "linux")("reads this process's soft limit, as the shell's ulimit -n says it", () => {
    const shell = execSync("ulimit -n", { shell: "/bin/sh", encoding: "utf8" }).trim()
    expect(softFdLimit()).toBe(shell === "unlimited" ? null : Number(shell))
  })
})

describe("CALLBACK_CONCURRENCY against the open-files limit (probe 54 #2)", () => {
  it("is said at start once it may take more than half of what the reserve leaves", () => {
    expect(callbackConcurrencyWarning({ fdLimit: 1024, callbackConcurrency: 1024 })).toBe(
      "CALLBACK_CONCURRENCY 1024 may take more than half of what the limit of 1024 open files leaves past 64 reserved: callbacks in flight to receivers that hang can use up the descriptors reports, health checks and connections need; lower it, or raise the limit (ulimit -n)"
    )
    expect(callbackConcurrencyWarning({ fdLimit: 1024, callbackConcurrency: (1024 - RESERVED_DESCRIPTORS) / 2 + 1 })).not.toBeNull()
  })

  it("is not when it fits, or the limit is unknown", () => {
    expect(callbackConcurrencyWarning({ fdLimit: 1024, callbackConcurrency: 16 })).toBeNull()
    expect(callbackConcurrencyWarning({ fdLimit: 1024, callbackConcurrency: (1024 - RESERVED_DESCRIPTORS) / 2 })).toBeNull()
    expect(callbackConcurrencyWarning({ fdLimit: null, callbackConcurrency: 1024 })).toBeNull()
  })
})
