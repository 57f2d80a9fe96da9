import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import { logListening } from "../../src/shared/listeningLine.js"
import { capturedLogs } from "../support/logs.js"

const linesAt = (minimum: LogLevel.LogLevel) =>
  Effect.gen(function* () {
    const { layer, lines } = capturedLogs(LogLevel.All)
    yield* logListening("x listening on http://127.0.0.1:1").pipe(Logger.withMinimumLogLevel(minimum), Effect.provide(layer))
    return lines.map((line) => `${line.level} ${line.message.join(" ")}`)
  })

describe("logListening", () => {
  it.effect("says where the program listens at info, under any minimum level but none", () =>
    Effect.gen(function* () {
      for (const minimum of [LogLevel.All, LogLevel.Debug, LogLevel.Info, LogLevel.Warning, LogLevel.Error, LogLevel.Fatal]) {
        expect(yield* linesAt(minimum), minimum.label).toEqual(["INFO x listening on http://127.0.0.1:1"])
      }
    }))

  it.effect("says nothing at none", () =>
    Effect.gen(function* () {
      expect(yield* linesAt(LogLevel.None)).toEqual([])
    }))

  it.effect("leaves the minimum level as it was for what follows", () =>
    Effect.gen(function* () {
      const { layer, lines } = capturedLogs(LogLevel.All)
      yield* Effect.zipRight(logListening("listening"), Effect.logInfo("after")).pipe(Logger.withMinimumLogLevel(LogLevel.Warning), Effect.provide(layer))
      expect(lines.map((line) => line.message[0])).toEqual(["listening"])
    }))
})
