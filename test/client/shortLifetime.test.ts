import { describe, expect, it } from "vitest"
import { shortLifetimeWarning } from "../../src/client/shortLifetime.js"

describe("shortLifetimeWarning (newcomer 38 #2: --lifetime 1 expired silently during an 8 s hold)", () => {
  it("says at start that a lifetime under 2 s may expire between the pings, before the time it would be held", () => {
    expect(shortLifetimeWarning({ lifetime: 1, heldSeconds: 8 })).toBe(
      "warning: --lifetime 1 is under 2 s: the client pings at most once a second, so a session may expire between pings, before the 8 s it would be held"
    )
    expect(shortLifetimeWarning({ lifetime: 1.9, heldSeconds: 2 })).toContain("--lifetime 1.9 is under 2 s")
  })

  it("says nothing for a lifetime of 2 s or more, or one that outlasts the hold", () => {
    expect(shortLifetimeWarning({ lifetime: 2, heldSeconds: 180 })).toBeNull()
    expect(shortLifetimeWarning({ lifetime: 0.5, heldSeconds: 0.5 })).toBeNull()
    expect(shortLifetimeWarning({ lifetime: 1, heldSeconds: 0.2 })).toBeNull()
  })
})
