import { describe, expect, it } from "vitest"
import { lineSplitter } from "../../src/serverless/lineSplitter.js"

const split = (chunks: ReadonlyArray<Buffer | string>, maxChars?: number, ended = false): Array<string> => {
  const lines: Array<string> = []
  const splitter = lineSplitter((line) => lines.push(line), maxChars)
  for (const chunk of chunks) splitter.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
  if (ended) splitter.end()
  return lines
}

describe("lineSplitter", () => {
  it("gives whole lines, joined across chunks, and keeps an unfinished one until its newline", () => {
    expect(split(["a\nb", "c\nd"])).toEqual(["a", "bc"])
    expect(split(["a\n", "\n", "b\n"])).toEqual(["a", "", "b"])
  })

  it("puts a UTF-8 character split between two chunks back together", () => {
    const bytes = Buffer.from("é€\n")
    expect(split([bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)])).toEqual(["é€"])
  })

  it("shows a line longer than the limit cut, once, and drops its rest up to the newline", () => {
    expect(split(["abcdefgh", "ijkl", "mnop\nnext\n"], 5)).toEqual(["abcde … (line cut at 5 characters)", "next"])
    // What is kept never grows past the limit and one chunk, however long the line runs.
    expect(split([..."x".repeat(50)].map((c) => c), 5)).toEqual(["xxxxx … (line cut at 5 characters)"])
  })

  it("a line of exactly the limit is kept whole", () => {
    expect(split(["abcde", "\n"], 5)).toEqual(["abcde"])
  })

  it("a whole line longer than the limit inside one chunk is cut too", () => {
    expect(split(["abcdefgh\nok\n"], 5)).toEqual(["abcde … (line cut at 5 characters)", "ok"])
  })

  it("the last line without its newline is given when the stream ends, cut if long; nothing more after a cut line's rest", () => {
    expect(split(["a\nfatal: crash"], 50, true)).toEqual(["a", "fatal: crash"])
    expect(split(["a\n"], 50, true)).toEqual(["a"])
    expect(split(["abcdefgh"], 5, true)).toEqual(["abcde … (line cut at 5 characters)"])
  })
})
