import { describe, expect, it } from "vitest"
import { redisErrorText } from "../../src/shared/redisErrorText.js"

describe("redisErrorText", () => {
  it("says a peer that is not Redis as the wrong address it is, with the byte it answered", () => {
    expect(redisErrorText('Protocol error, got "H" as reply type byte. Please report this.')).toBe(
      'the peer does not answer in the Redis protocol (its reply began with "H"): is this a Redis server\'s address?'
    )
    expect(redisErrorText('Protocol error, got "\\u0015" as reply type byte. Please report this.')).toContain('(its reply began with "\\u0015")')
  })

  it("leaves every other message as it came", () => {
    for (const message of ["connect ECONNREFUSED 127.0.0.1:6379", "read ECONNRESET", "WRONGPASS invalid username-password pair", "Protocol error"]) {
      expect(redisErrorText(message)).toBe(message)
    }
  })
})
