import { assert, describe, it } from "@effect/vitest"
import { Cause, Config, ConfigProvider, Data, Effect } from "effect"
import { describeCause } from "../../src/shared/causeLine.js"

describe("describeCause", () => {
  it.effect("a ConfigError names its variable (Effect's own message does not)", () =>
    Effect.gen(function* () {
      const provider = ConfigProvider.fromMap(new Map([["JOB_TIME", "abc"]]))
      const error = yield* Effect.flip(Effect.withConfigProvider(Config.duration("JOB_TIME"), provider))
      assert.strictEqual(describeCause(Cause.fail(error)), 'JOB_TIME: Expected a duration but received "abc"')
      const missing = yield* Effect.flip(Effect.withConfigProvider(Config.string("VAST_ENDPOINT"), provider))
      assert.strictEqual(describeCause(Cause.fail(missing)), "VAST_ENDPOINT: is required but not set")
    })
  )

  it("a defect: an error says its name and the first line of its message; anything else as text", () => {
    assert.strictEqual(describeCause(Cause.die(new TypeError('Protocol "ftp:" not supported\nat …'))), 'TypeError: Protocol "ftp:" not supported')
    assert.strictEqual(describeCause(Cause.die(new Error(""))), "Error")
    assert.strictEqual(describeCause(Cause.die("plain text\nsecond line")), "plain text")
    // A value with no text of its own: its kind, rather than a second crash while the first is being said.
    assert.strictEqual(describeCause(Cause.die(Object.create(null))), "a thrown object that cannot be shown as text")
    assert.strictEqual(describeCause(Cause.die({ toString: () => { throw new Error("no") } })), "a thrown object that cannot be shown as text")
    const hostile = new Error("x")
    Object.defineProperty(hostile, "message", { get: () => { throw new Error("no") } })
    const revoked = Proxy.revocable({}, {})
    revoked.revoke()
    assert.strictEqual(describeCause(Cause.die(hostile)), "a thrown object that cannot be shown as text")
    assert.strictEqual(describeCause(Cause.die(revoked.proxy)), "a thrown object that cannot be shown as text")
    class Unavailable extends Data.TaggedError("Unavailable")<{ readonly message: string }> {}
    assert.strictEqual(describeCause(Cause.fail(new Unavailable({ message: "a failure says its message" }))), "a failure says its message")
  })
})
