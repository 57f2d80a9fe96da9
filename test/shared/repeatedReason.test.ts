/** A trouble said once while it lasts, whatever order its reasons come in; again once it was over. */
import { assert, describe, it } from "@effect/vitest"
import { REMEMBERED_REASONS, repeatedReason } from "../../src/shared/repeatedReason.js"

describe("repeatedReason", () => {
  it("two reasons that alternate are each new once; after clear both are new again", () => {
    const reasons = repeatedReason()
    assert.deepStrictEqual(["protocol error", "ECONNRESET", "protocol error", "ECONNRESET", "protocol error"].map(reasons.isNew), [true, true, false, false, false])
    assert.isTrue(reasons.clear())
    assert.isFalse(reasons.clear(), "nothing said since")
    assert.deepStrictEqual(["ECONNRESET", "protocol error", "ECONNRESET"].map(reasons.isNew), [true, true, false])
  })

  it(`at most ${REMEMBERED_REASONS} are remembered: past that the oldest is new again`, () => {
    const reasons = repeatedReason()
    const many = Array.from({ length: REMEMBERED_REASONS + 1 }, (_, i) => `attempt ${i}`)
    assert.isTrue(many.every(reasons.isNew))
    assert.isTrue(reasons.isNew("attempt 0"), "the oldest was forgotten")
    assert.isFalse(reasons.isNew(`attempt ${REMEMBERED_REASONS}`), "the newest is still remembered")
  })
})
