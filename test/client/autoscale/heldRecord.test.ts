import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { HeldRecord } from "../../../src/client/autoscale/StateStore.js"
import { parseBoundedJsonWith } from "../../../src/shared/boundedJson.js"

const decode = Schema.decodeUnknownEither(parseBoundedJsonWith(HeldRecord))

const AUTH = '{"url":"https://203.0.113.7:41234","signature":"x","reqnum":1,"request_idx":4242,"endpoint":"e","cost":100}'
/** A record as a daemon writes it, with `fields` written over it (their JSON text). */
const recordText = (fields: Record<string, string> = {}): string => {
  const all: Record<string, string> = {
    session_id: '"s-a"',
    reservation: "1",
    url: '"https://203.0.113.7:41234"',
    auth_data: AUTH,
    lifetime: "60",
    expiration: "2000000000",
    request_idx: "4242",
    generation: "3",
    created_at: "1700000000000",
    ...fields
  }
  return `{${Object.entries(all).map(([key, value]) => `"${key}":${value}`).join(",")}}`
}

describe("a held reservation's record, read back from Redis", () => {
  it("decodes as the daemon wrote it", () => {
    expect(Either.isRight(decode(recordText()))).toBe(true)
  })

  it.each([
    ["a worker URL that is not http(s)", { url: '"file:///etc/passwd"' }],
    ["a gopher worker URL", { url: '"gopher://203.0.113.7:70/"' }],
    ["a worker URL on port 0", { url: '"http://203.0.113.7:0"' }],
    ["a deadline past the double range (read as Infinity)", { expiration: "1e999" }],
    ["a lifetime past the double range", { lifetime: "1e999" }],
    ["a lifetime of 0", { lifetime: "0" }],
    ["a creation time past the double range", { created_at: "-1e999" }],
    ["an empty session id", { session_id: '""' }],
    ["a reservation number of 0", { reservation: "0" }]
  ])("is dropped, not adopted, with %s", (_, fields) => {
    expect(Either.isLeft(decode(recordText(fields)))).toBe(true)
  })
})
