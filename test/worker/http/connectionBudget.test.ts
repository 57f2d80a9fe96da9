import { execSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { budgetFor, RESERVED_DESCRIPTORS, softFdLimit } from "../../../src/worker/http/connectionBudget.js"

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
