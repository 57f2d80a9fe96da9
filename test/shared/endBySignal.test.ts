import { describe, expect, it } from "vitest"
import { quitOnSigquitAsPid1 } from "../../src/shared/endBySignal.js"

describe("quitOnSigquitAsPid1", () => {
  it("installs nothing in a process that is not PID 1: SIGQUIT keeps the kernel's default, which a busy main thread cannot hold up (review 65 #1)", () => {
    expect(process.pid).not.toBe(1)
    const before = process.listenerCount("SIGQUIT")
    quitOnSigquitAsPid1()
    expect(process.listenerCount("SIGQUIT")).toBe(before)
  })
})
