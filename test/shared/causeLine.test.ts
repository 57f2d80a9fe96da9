import { assert, describe, it } from "@effect/vitest"
import { Cause, Config, ConfigProvider, Effect } from "effect"
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
})
