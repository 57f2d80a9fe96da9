import { describe, expect, it } from "@effect/vitest"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { keepPayload, type KeptPayload } from "../../src/protocol/callback.js"
import { parseJson } from "../../src/shared/exactJson.js"

// The outbox's budget counts a kept payload's characters: what an open session holds in heap must be about that.
setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

/** Heap held per character of payload text by `count` kept payloads made from `bodyText`. */
const heapPerCharacter = (bodyText: string, count: number): number => {
  const kept: Array<KeptPayload> = []
  // Once before measuring: what the first call sets up for good (compiled code, caches) is not the payloads'.
  keepPayload((parseJson(bodyText) as { on_close_payload: unknown }).on_close_payload)
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < count; i++) kept.push(keepPayload((parseJson(bodyText) as { on_close_payload: unknown }).on_close_payload))
  gc()
  const held = process.memoryUsage().heapUsed - before
  return held / count / kept[0]!.text.length
}

const payloadOf = (numbers: ReadonlyArray<string>): string => `{"on_close_payload":{"xs":[${numbers.join(",")}]}}`

describe("a kept on_close_payload in memory", () => {
  it("holds about its text's length when it is made of integers past 2^53", () => {
    const numbers = Array.from({ length: 20_000 }, (_, i) => `${9_007_199_254_740_993n + BigInt(i)}`)
    expect(heapPerCharacter(payloadOf(numbers), 20)).toBeLessThan(1.5)
  })

  it("holds about its text's length when it is made of small integers", () => {
    const numbers = Array.from({ length: 50_000 }, (_, i) => `${i}`)
    expect(heapPerCharacter(payloadOf(numbers), 20)).toBeLessThan(1.5)
  })
})
