import { Writable } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, FiberId, FiberRefs, HashMap, Layer, List, Logger, LogLevel, Schema, Scope, TestClock } from "effect"
import { boundedLineLogger, layer, lineLogger, LogLevelName, toLogLevel } from "../../src/shared/logging.js"
import { heldStream } from "../support/heldStream.js"

const logged = (format: "logfmt" | "json" | "pretty", effect: Effect.Effect<void>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, lineLogger(format, (line) => lines.push(line)))))
    return lines
  })

/** The batching layer (a 20 ms window) built in a scope of its own, writing to a stream that keeps each write. */
const batchedLayer = (format: "logfmt" | "json") =>
  Effect.gen(function* () {
    const writes: Array<string> = []
    const stream = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        writes.push(chunk.toString())
        done()
      }
    })
    const scope = yield* Scope.make()
    const logs = yield* Layer.buildWithScope(layer({ format, level: "info", stream, window: "20 millis" }), scope)
    return { logs, scope, writes }
  })

describe("log lines", () => {
  it.effect("logfmt: message, then the fields of a plain object; values quoted only when they need it; no fiber id", () =>
    Effect.gen(function* () {
      const [line] = yield* logged("logfmt", Effect.logInfo("session created", { session_id: "abc", cost: 100, note: "two words" }))
      assert.match(line ?? "", /^timestamp=\S+ level=INFO message="session created" session_id=abc cost=100 note="two words"$/)
      assert.notInclude(line ?? "", "fiber")
    })
  )
  it.effect("json: one object per line with the fields; a field never overwrites timestamp, level or message", () =>
    Effect.gen(function* () {
      const [line] = yield* logged("json", Effect.logWarning("careful", { level: "mine", x: [1, 2] }))
      const record = JSON.parse(line ?? "{}") as Record<string, unknown>
      assert.deepStrictEqual([record["level"], record["message"], record["x"]], ["WARN", "careful", [1, 2]])
    })
  )
  it.effect("a failure's cause is a field; annotations are fields too", () =>
    Effect.gen(function* () {
      const [line] = yield* logged("json", Effect.logError("it broke", { a: 1 }).pipe(Effect.annotateLogs({ component: "test" })))
      const record = JSON.parse(line ?? "{}") as Record<string, unknown>
      assert.deepStrictEqual([record["a"], record["component"]], [1, "test"])
    })
  )
  it.effect("pretty: time, level, message, fields", () =>
    Effect.gen(function* () {
      const [line] = yield* logged("pretty", Effect.logInfo("ready", { port: 3000 }))
      assert.match(line ?? "", /^\d\d:\d\d:\d\d\.\d{3} INFO    ready port=3000$/)
    })
  )
  it.effect("no format writes a character a terminal acts on (C0 and C1 controls, DEL, bidirectional marks): escaped, the same data once parsed", () =>
    Effect.gen(function* () {
      const hostile = "Z\u001b[31m\r\nlevel=ERROR\u0000 \u009b31m\u0085\u009d0;T\u0007\u007f\u202eXX\u2066\u200f\u061c\u2028\u2029"
      const log = Effect.logWarning(`recycled: ${hostile}`, { reason: hostile })
      for (const format of ["logfmt", "json", "pretty"] as const) {
        const [line = ""] = yield* logged(format, log)
        assert.notMatch(line, /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/, format)
        if (format === "json") {
          const record = JSON.parse(line) as Record<string, unknown>
          assert.deepStrictEqual([record["message"], record["reason"]], [`recycled: ${hostile}`, hostile])
        } else {
          assert.strictEqual(JSON.parse(/ reason=(".*")$/.exec(line)?.[1] ?? "null"), hostile, format)
        }
      }
      const [plain = ""] = yield* logged("logfmt", Effect.logInfo("ready", { name: "café ünïcode ✓" }))
      assert.include(plain, 'name="café ünïcode ✓"', "other characters as they are")
    })
  )
})

describe("LOG_LEVEL", () => {
  const level = (text: string) => Either.map(Schema.decodeUnknownEither(LogLevelName)(text), toLogLevel)

  it("takes a level in any case, and warn for warning", () => {
    assert.deepStrictEqual(level("info"), Either.right(LogLevel.Info))
    assert.deepStrictEqual(level("INFO"), Either.right(LogLevel.Info))
    assert.deepStrictEqual(level("warn"), Either.right(LogLevel.Warning))
    assert.deepStrictEqual(level("Warning"), Either.right(LogLevel.Warning))
    assert.deepStrictEqual(level("none"), Either.right(LogLevel.None))
  })

  it("refuses a name that is no level", () => {
    assert.isTrue(Either.isLeft(level("verbose")))
    assert.isTrue(Either.isLeft(level("")))
  })
  it.effect("each line carries its own time: lines in one millisecond share it, the next millisecond's line has its own", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const logger = lineLogger("logfmt", (line) => lines.push(line))
      const log = (millis: number) =>
        logger.log({
          fiberId: FiberId.none,
          logLevel: LogLevel.Info,
          message: ["tick", { n: -0, big: 1e21, small: 1.5e-7, inf: Number.POSITIVE_INFINITY, yes: true }],
          cause: Cause.empty,
          context: FiberRefs.empty(),
          spans: List.empty(),
          annotations: HashMap.empty(),
          date: new Date(millis)
        })
      log(Date.UTC(2026, 10, 29, 12, 0, 0, 5))
      log(Date.UTC(2026, 10, 29, 12, 0, 0, 5))
      log(Date.UTC(2026, 10, 29, 12, 0, 0, 6))
      log(Date.UTC(2026, 10, 29, 12, 0, 0, 5))
      assert.deepStrictEqual(
        lines.map((line) => line.split(" ")[0]),
        ["2026-11-29T12:00:00.005Z", "2026-11-29T12:00:00.005Z", "2026-11-29T12:00:00.006Z", "2026-11-29T12:00:00.005Z"].map((iso) => `timestamp=${iso}`)
      )
      // Numbers print as JSON prints them (bare); what JSON cannot print as a number is quoted text.
      assert.strictEqual(lines[0]?.split(`message="tick" `)[1], "n=0 big=1e+21 small=1.5e-7 inf=null yes=true")
    })
  )
  it.effect("the layer writes the lines of a window in one write, each ending in a newline, and nothing before the window ends", () =>
    Effect.gen(function* () {
      const { logs, scope, writes } = yield* batchedLayer("logfmt")
      const log = (message: string) => Effect.logInfo(message, { n: 1 }).pipe(Effect.provide(logs))
      yield* log("first")
      yield* log("second")
      yield* Effect.yieldNow()
      assert.deepStrictEqual(writes, [])
      yield* TestClock.adjust("20 millis")
      assert.lengthOf(writes, 1)
      assert.match(writes[0] ?? "", /^timestamp=\S+ level=INFO message="first" n=1\ntimestamp=\S+ level=INFO message="second" n=1\n$/)
      // A line logged once the scope has closed is written at once, on its own.
      yield* log("third")
      yield* Scope.close(scope, Exit.void)
      assert.lengthOf(writes, 2)
      assert.match(writes[1] ?? "", /message="third" n=1\n$/)
      yield* log("after").pipe(Effect.provide(logs))
      assert.lengthOf(writes, 3)
      assert.match(writes[2] ?? "", /^timestamp=\S+ level=INFO message="after" n=1\n$/)
    })
  )

  it.effect("a reader that falls behind by more than the backlog bound costs info lines, not memory: dropped and counted, said once it catches up; warnings, errors and the stop's last lines are kept (probe 39 I1, review 42 M1)", () =>
    Effect.gen(function* () {
      const { hold, stream, takeAll, writes } = heldStream()
      const scope = yield* Scope.make()
      const logs = yield* Layer.buildWithScope(layer({ format: "logfmt", level: "info", stream, window: "20 millis", backlogMax: 100 }), scope)
      const inWindow = (logged: Effect.Effect<void>) => Effect.zipRight(Effect.provide(logged, logs), TestClock.adjust("20 millis"))
      // The first batch is written and not taken: past the bound, info lines are dropped, a warning is written.
      yield* inWindow(Effect.logInfo("first, a line of more than a hundred bytes with its timestamp and level"))
      yield* inWindow(Effect.logInfo("dropped 1"))
      yield* inWindow(Effect.zipRight(Effect.logWarning("kept warning"), Effect.logInfo("dropped 2")))
      yield* inWindow(Effect.logInfo("dropped 3"))
      assert.lengthOf(writes, 1)
      takeAll()
      assert.lengthOf(writes, 2)
      assert.match(writes[1] ?? "", /^timestamp=\S+ level=WARN message="kept warning"\n$/)
      // Caught up: the next batch says what was lost, then its own line.
      yield* inWindow(Effect.logInfo("after"))
      assert.lengthOf(writes, 3)
      assert.match(writes[2] ?? "", /^timestamp=\S+ level=WARN message="3 log lines were dropped: the output's reader was more than 100 bytes behind"\ntimestamp=\S+ level=INFO message="after"\n$/)
      // Behind again at the stop: its last lines are written all the same.
      hold()
      yield* inWindow(Effect.logInfo("a second line of more than a hundred bytes with its timestamp and level"))
      yield* Effect.provide(Effect.logInfo("worker stopped"), logs)
      yield* Scope.close(scope, Exit.void)
      takeAll()
      assert.match(writes.at(-1) ?? "", /message="worker stopped"\n$/)
    })
  )

  it.effect("past four times the backlog bound, warnings are dropped and counted too: a reader that never reads holds none for ever (probe 56 #5)", () =>
    Effect.gen(function* () {
      const { stream, takeAll, writes } = heldStream()
      const scope = yield* Scope.make()
      const logs = yield* Layer.buildWithScope(layer({ format: "logfmt", level: "info", stream, window: "20 millis", backlogMax: 100 }), scope)
      const inWindow = (logged: Effect.Effect<void>) => Effect.zipRight(Effect.provide(logged, logs), TestClock.adjust("20 millis"))
      yield* inWindow(Effect.logWarning(`a first warning of more than four hundred bytes: ${"x".repeat(400)}`))
      yield* inWindow(Effect.all([Effect.logWarning("dropped warning"), Effect.logError("dropped error"), Effect.logInfo("dropped info")]))
      assert.lengthOf(writes, 1)
      takeAll()
      yield* inWindow(Effect.logInfo("after"))
      assert.deepStrictEqual(
        writes.slice(1).join("").replace(/timestamp=\S+ /g, ""),
        'level=WARN message="3 log lines were dropped: the output\'s reader was more than 100 bytes behind"\nlevel=INFO message="after"\n'
      )
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.effect("lines dropped with no line after them are counted at the stop all the same (review 62 #5: at LOG_LEVEL=warn, `worker stopped` is not logged, and the count was lost)", () =>
    Effect.gen(function* () {
      const { stream, takeAll, writes } = heldStream()
      const scope = yield* Scope.make()
      const logs = yield* Layer.buildWithScope(layer({ format: "logfmt", level: "warning", stream, window: "20 millis", backlogMax: 100 }), scope)
      const inWindow = (logged: Effect.Effect<void>) => Effect.zipRight(Effect.provide(logged, logs), TestClock.adjust("20 millis"))
      yield* inWindow(Effect.logWarning(`a first warning of more than four hundred bytes: ${"x".repeat(400)}`))
      yield* inWindow(Effect.all([Effect.logWarning("dropped warning"), Effect.logError("dropped error")]))
      takeAll()
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(writes.slice(1).map((line) => line.replace(/^timestamp=\S+ /, "")), [
        'level=WARN message="2 log lines were dropped: the output\'s reader was more than 100 bytes behind"\n'
      ])
    })
  )

  it.effect("the other programs' lines (boundedLineLogger): written at once; past the bound info lines are dropped, warnings kept, and the count said once the reader caught up (probe 40 M1)", () =>
    Effect.gen(function* () {
      const { stream, takeAll, writes } = heldStream()
      const logs = Logger.replace(Logger.defaultLogger, boundedLineLogger("logfmt", stream, 100))
      yield* Effect.provide(Effect.logInfo("first, a line of more than a hundred bytes with its timestamp and level"), logs)
      yield* Effect.provide(Effect.all([Effect.logInfo("dropped 1"), Effect.logWarning("kept warning"), Effect.logInfo("dropped 2")]), logs)
      takeAll()
      assert.lengthOf(writes, 2)
      assert.match(writes[1] ?? "", /^timestamp=\S+ level=WARN message="kept warning"\n$/)
      yield* Effect.provide(Effect.logInfo("after"), logs)
      assert.deepStrictEqual(
        writes.slice(2).map((line) => line.replace(/^timestamp=\S+ /, "")),
        ['level=WARN message="2 log lines were dropped: the output\'s reader was more than 100 bytes behind"\n', 'level=INFO message="after"\n']
      )
    })
  )

  it.effect("a field JSON cannot write (a BigInt, a cycle) is named in its line, and the lines after it are written (review 36 L1)", () =>
    Effect.gen(function* () {
      const { logs, scope, writes } = yield* batchedLayer("json")
      const cycle: Record<string, unknown> = {}
      cycle["self"] = cycle
      yield* Effect.logInfo("bigint", { n: 1n, ok: 1 }).pipe(Effect.provide(logs))
      yield* Effect.logInfo("cycle", { cycle }).pipe(Effect.provide(logs))
      yield* TestClock.adjust("20 millis")
      yield* Effect.logInfo("later").pipe(Effect.provide(logs))
      yield* TestClock.adjust("20 millis")
      const lines = writes.join("").trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
      assert.deepStrictEqual(
        lines.map((line) => [line["message"], line["n"] ?? line["cycle"] ?? null, line["ok"] ?? null]),
        [
          ["bigint", "<not writable: a bigint>", 1],
          ["cycle", "<not writable: a value JSON cannot write>", null],
          ["later", null, null]
        ]
      )
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.effect("a message part whose text cannot be had (its toString throws) gives a line that says so, without the fields gathered before it; the lines after it are written (review 37 L4)", () =>
    Effect.gen(function* () {
      const { logs, scope, writes } = yield* batchedLayer("json")
      const unprintable = { toString: () => { throw new Error("no text") } }
      Object.setPrototypeOf(unprintable, { kind: "not a plain object" })
      yield* Effect.logInfo("before it", { n: 1n }, unprintable).pipe(Effect.provide(logs))
      yield* TestClock.adjust("20 millis")
      yield* Effect.logInfo("later", { ok: 1 }).pipe(Effect.provide(logs))
      yield* TestClock.adjust("20 millis")
      const lines = writes.join("").trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
      assert.deepStrictEqual(
        lines.map(({ timestamp: _, ...rest }) => rest),
        [
          { level: "INFO", message: "a log line could not be written" },
          { level: "INFO", message: "later", ok: 1 }
        ]
      )
      yield* Scope.close(scope, Exit.void)
    })
  )
})
