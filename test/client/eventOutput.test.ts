import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, TestClock } from "effect"
import { eventOutput } from "../../src/client/eventOutput.js"
import { heldStream } from "../support/heldStream.js"

const Dropped = Schema.parseJson(Schema.Struct({ event: Schema.Literal("output_dropped"), events: Schema.Number, backlog_max_bytes: Schema.Number, at: Schema.String }))

/**
 * `writes` (text and whether kept) through the output of `json` form and a 10-byte bound, with the reader taking
 * nothing until `takeAt` writes were made, then all: what reached it.
 */
const throughBound = (json: boolean, writes: ReadonlyArray<readonly [string, boolean]>, takeAt: number) =>
  Effect.gen(function* () {
    const { stream, takeAll, writes: taken } = heldStream()
    const write = eventOutput(stream, json, 10)
    yield* TestClock.setTime(Date.UTC(2026, 11, 3, 12, 0, 0))
    for (const [index, [text, kept]] of writes.entries()) {
      if (index === takeAt) takeAll()
      yield* write(text, kept)
    }
    if (takeAt >= writes.length) takeAll()
    return taken
  })

/** Three events written while the first (over `max` bytes) is unread, then one after the reader caught up. */
const behindThenCaughtUp = (json: boolean) =>
  throughBound(json, [["an event over ten bytes\n", false], ["dropped 1\n", false], ["dropped 2\n", false], ["after\n", false]], 3)

describe("the client's event output (probe 40 M1)", () => {
  it.effect("--json: events past the bound are dropped, then an output_dropped event says how many, before the next", () =>
    Effect.gen(function* () {
      const writes = yield* behindThenCaughtUp(true)
      assert.deepStrictEqual([writes[0], writes[2]], ["an event over ten bytes\n", "after\n"])
      assert.deepStrictEqual(Schema.decodeUnknownSync(Dropped, { onExcessProperty: "error" })(writes[1]), { event: "output_dropped", events: 2, backlog_max_bytes: 10, at: "2026-12-03T12:00:00.000Z" })
    })
  )

  it.effect("plain lines: the same, said as a timestamped line", () =>
    Effect.gen(function* () {
      const writes = yield* behindThenCaughtUp(false)
      assert.deepStrictEqual(writes, [
        "an event over ten bytes\n",
        "2026-12-03T12:00:00.000Z 2 events were dropped: the output's reader was more than 10 bytes behind\n",
        "after\n"
      ])
    })
  )

  it.effect("a kept write (a run's last word) is written while the reader is behind, after the count of what was dropped once it caught up", () =>
    Effect.gen(function* () {
      const writes = yield* throughBound(false, [["an event over ten bytes\n", false], ["dropped\n", false], ["the final table\n", true]], 3)
      assert.deepStrictEqual(writes, ["an event over ten bytes\n", "the final table\n"])
    })
  )
})
