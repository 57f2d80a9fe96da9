import { describe, expect, it } from "vitest"
import { boundedOutput } from "../../src/shared/boundedOutput.js"
import { heldStream } from "../support/heldStream.js"

describe("boundedOutput", () => {
  it("writes while the reader's backlog is within the bound; past it drops and counts, and says how many before the first write once the reader caught up (probe 40 M1)", () => {
    const { stream, takeAll, writes } = heldStream()
    const output = boundedOutput(stream, 10)
    output.write("123456789\n")
    // Ten bytes unread: not past the bound.
    output.write("a\n")
    output.write("dropped\n")
    output.write("dropped\n", () => "not this notice\n")
    output.writeKept("kept\n")
    takeAll()
    expect(writes).toEqual(["123456789\n", "a\n", "kept\n"])
    output.write("after\n", (dropped, max) => `${dropped} left out past ${max}\n`)
    output.write("next\n")
    expect(writes.slice(3)).toEqual(["2 left out past 10\n", "after\n", "next\n"])
  })

  it("the usual notice, and a kept write that catches up says it too", () => {
    const { stream, takeAll, writes } = heldStream()
    const output = boundedOutput(stream, 0)
    output.write("x\n")
    output.write("dropped\n")
    takeAll()
    output.writeKept("kept\n")
    expect(writes).toEqual(["x\n", "1 lines were dropped: the output's reader was more than 0 bytes behind\n", "kept\n"])
  })

  it("kept writes too are dropped and counted past four times the bound (probe 56 #5: a warning a client can cause per request was held without end)", () => {
    const { stream, takeAll, writes } = heldStream()
    const output = boundedOutput(stream, 10)
    output.write("0123456789012345678901234567890123456789\n")
    // 41 bytes unread: past 40, a kept write is dropped too.
    output.writeKept("dropped warning\n")
    output.write("dropped\n")
    takeAll()
    output.writeKept("kept\n")
    expect(writes).toEqual(["0123456789012345678901234567890123456789\n", "2 lines were dropped: the output's reader was more than 10 bytes behind\n", "kept\n"])
  })

  it("a stream that has failed takes nothing, and nothing throws", () => {
    const { stream, writes } = heldStream()
    stream.destroy()
    const output = boundedOutput(stream, 10)
    output.write("x\n")
    output.writeKept("y\n")
    expect(writes).toEqual([])
  })
})
