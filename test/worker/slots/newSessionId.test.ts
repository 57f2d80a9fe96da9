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
})
