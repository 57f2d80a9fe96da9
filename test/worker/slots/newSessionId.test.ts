import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { SessionId } from "../../../src/protocol/SessionId.js"
import { unsafeNewSessionId } from "../../../src/worker/slots/newSessionId.js"

describe("unsafeNewSessionId", () => {
  it("3,000 ids in a row (the random pool refilled many times) are distinct, each 13 characters of [A-Za-z0-9]", () => {
    const ids = Array.from({ length: 3000 }, () => unsafeNewSessionId())
    assert.strictEqual(new Set(ids).size, ids.length)
    for (const id of ids) assert.match(id, /^[A-Za-z0-9]{13}$/)
  })

  it("ids are branded without the Schema's checks, and every one passes them", () => {
    const is = Schema.is(SessionId)
    for (let i = 0; i < 1000; i++) assert.isTrue(is(unsafeNewSessionId()))
  })

  it("every one of the 62 characters is used", () => {
    const seen = new Set(Array.from({ length: 3000 }, () => unsafeNewSessionId()).join(""))
    assert.strictEqual(seen.size, 62)
  })

  it("every character is equally likely: bytes 248 to 255, which would favour the first eight, are dropped", () => {
    // 260,000 characters: each is 1/62 (1.61 %) of them, give or take 0.025 % (one standard deviation). A mapping that
    // kept byte 248 would make "A" 2.01 %; one that kept all 256, "A" to "H" 1.95 % each.
    const counts = new Map<string, number>()
    for (let i = 0; i < 20_000; i++) for (const character of unsafeNewSessionId()) counts.set(character, (counts.get(character) ?? 0) + 1)
    for (const [character, count] of counts) {
      const share = count / 260_000
      assert.isTrue(share > 0.0145 && share < 0.0178, `${character}: ${(share * 100).toFixed(3)} %`)
    }
  })
})
