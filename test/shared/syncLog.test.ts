import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import { makeSyncLog } from "../../src/shared/syncLog.js"
import { capturedLogs } from "../support/logs.js"

describe("makeSyncLog", () => {
  it.effect("logs through the loggers and minimum level current where it was made", () => {
    const logs = capturedLogs(LogLevel.Warning)
    return Effect.gen(function* () {
      const log = yield* makeSyncLog
      log.info("dropped below the minimum", { a: 1 })
      log.warning("kept", { b: 2 })
      assert.deepStrictEqual(logs.lines, [{ level: "WARN", message: ["kept", { b: 2 }] }])
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("inside a span, a line is also an event of that span (as Effect.log would add it)", () =>
    Effect.gen(function* () {
      const log = yield* makeSyncLog
      log.info("inside", { c: 3 })
      const span = yield* Effect.currentSpan
      const events = "events" in span && Array.isArray(span.events) ? span.events : []
      assert.deepStrictEqual(
        events.map((event: ReadonlyArray<unknown>) => String(event[0])),
        [JSON.stringify(["inside", { c: 3 }], null, 2)]
      )
    }).pipe(Effect.withSpan("request"), Effect.provide(Logger.remove(Logger.defaultLogger)))
  )

  it.effect("outside any span, no span is asked for and the line still reaches the logger", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const log = yield* makeSyncLog
      log.info("outside", {})
      assert.lengthOf(logs.lines, 1)
    }).pipe(Effect.provide(logs.layer))
  })
})
