import { describe, expect, it } from "vitest"
import { Option } from "effect"
import { readSeconds } from "../../src/shared/secondsText.js"

describe("readSeconds", () => {
  it("reads seconds, and a number with a short unit, to seconds", () => {
    const read = (text: string) => Option.getOrNull(readSeconds(text))
    expect(["90", "0.5", ".5", "1e3", "-1", "90s", "10m", "2h", "1d", "250ms", "1.5m", "1e1s"].map(read)).toEqual([
      90, 0.5, 0.5, 1000, -1, 90, 600, 7200, 86_400, 0.25, 90, 10
    ])
    // No binary fraction's tail (review 58 L4): a lifetime is sent as it is read.
    expect(["9ms", "1.1h", "0.1m", "3ms"].map(read)).toEqual([0.009, 3960, 6, 0.003])
    // Each flag's own rule refuses these: not finite.
    expect(["Infinity", "NaN"].map(read)).toEqual([Infinity, NaN])
  })

  it("refuses what is not a number, or a unit it does not know, or spaces", () => {
    for (const text of ["", "m", "10 m", "10M", "10min", "10mm", "0x10", " 5", "5 ", "1_000", "2 seconds", "10sm"]) {
      expect(Option.isNone(readSeconds(text)), JSON.stringify(text)).toBe(true)
    }
  })
})
