import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { keepPayload } from "../../../src/protocol/callback.js"
import { SlotPool } from "../../../src/worker/slots/SlotPool.js"
import { poolLayer } from "../../support/layers.js"
import { authData } from "../../support/sessions.js"

// What an open session keeps of its `auth_data` is bounded by the characters of its JSON text (16,384): the heap it
// takes must be about that, whatever the shape of the value.
setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const SESSIONS = 32

describe("an open session's auth_data in memory", () => {
  it.effect("takes about its text's length in heap, even when its text is thousands of empty objects (probe 46 M2: ~22 times)", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const text = JSON.stringify({ ...authData(), x: Array.from({ length: 5_000 }, () => ({})) })
      gc()
      const before = process.memoryUsage().heapUsed
      // Each its own parsed value, as each request's body is.
      for (let i = 0; i < SESSIONS; i++) yield* pool.create({ authData: JSON.parse(text), cost: 100, requestIdx: i, lifetimeMs: 60_000, onCloseRoute: null, onClosePayload: keepPayload(null) })
      gc()
      const perCharacter = (process.memoryUsage().heapUsed - before) / SESSIONS / text.length
      assert.isBelow(perCharacter, 2, `heap per character of auth_data: ${perCharacter.toFixed(2)}`)
    }).pipe(Effect.provide(poolLayer({ maxSessions: SESSIONS })))
  )
})
