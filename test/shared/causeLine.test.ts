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

  it("a defect: a typed error made one says its message, as its failure would; any other error its name and message; anything else as text", () => {
    class Unavailable extends Data.TaggedError("Unavailable")<{ readonly message: string }> {}
    assert.strictEqual(describeCause(Cause.die(new Unavailable({ message: "OUTBOX_FILE x cannot be used: it is in use\nby process 7" }))), "OUTBOX_FILE x cannot be used: it is in use")
    assert.strictEqual(describeCause(Cause.fail(new Unavailable({ message: "the same as a failure" }))), "the same as a failure")
    assert.strictEqual(describeCause(Cause.die(new TypeError('Protocol "ftp:" not supported'))), 'TypeError: Protocol "ftp:" not supported')
    assert.strictEqual(describeCause(Cause.die(new Error(""))), "Error")
    assert.strictEqual(describeCause(Cause.die("plain text\nsecond line")), "plain text")
  })
})
