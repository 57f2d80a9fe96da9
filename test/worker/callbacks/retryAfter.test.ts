import { describe, expect, it } from "vitest"
import { RETRY_AFTER_MAX_MS, retryAfterMs } from "../../../src/worker/callbacks/retryAfter.js"

describe("retryAfterMs", () => {
  const now = Date.UTC(2026, 11, 1, 9, 0, 0)

  it("reads delay-seconds, held to the cap", () => {
    expect(retryAfterMs("0", now)).toBe(0)
    expect(retryAfterMs(" 7 ", now)).toBe(7000)
    expect(retryAfterMs("120", now)).toBe(RETRY_AFTER_MAX_MS)
    expect(retryAfterMs("9".repeat(400), now)).toBe(RETRY_AFTER_MAX_MS)
  })

  it("reads an HTTP date as the time until it, never below zero, held to the cap", () => {
    expect(retryAfterMs("Tue, 01 Dec 2026 09:00:20 GMT", now)).toBe(20_000)
    expect(retryAfterMs("Tue, 01 Dec 2026 08:00:00 GMT", now)).toBe(0)
    expect(retryAfterMs("Wed, 02 Dec 2026 09:00:00 GMT", now)).toBe(RETRY_AFTER_MAX_MS)
  })

  it("anything else is no wait asked: absent, signed, fractional, words, a bare year", () => {
    for (const header of [undefined, "", "-5", "+5", "1.5", "soon", "in Tue, 01 Dec 2026 09:00:20 GMT", "Xyz, 99 Foo 2026 99:99:99 GMT"]) expect(retryAfterMs(header, now), String(header)).toBeNull()
  })
})
