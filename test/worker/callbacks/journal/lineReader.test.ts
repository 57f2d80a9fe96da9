import { closeSync, mkdtempSync, openSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { forEachLine } from "../../../../src/worker/callbacks/journal/lineReader.js"

const dir = mkdtempSync(join(tmpdir(), "line-reader-"))
let files = 0

/** What `forEachLine` visits for `content`, read `chunkBytes` at a time with lines of at most `maxLineBytes`. */
const linesOf = (content: Buffer | string, maxLineBytes: number, chunkBytes: number) => {
  const file = join(dir, `lines-${files++}`)
  writeFileSync(file, content)
  const fd = openSync(file, "r")
  const seen: Array<string | null> = []
  try {
    forEachLine(fd, maxLineBytes, (line) => void seen.push(line), chunkBytes)
  } finally {
    closeSync(fd)
  }
  return seen
}

/** The same, worked out on the whole content at once. */
const expected = (content: Buffer, maxLineBytes: number) => {
  const lines: Array<string | null> = []
  let from = 0
  while (from <= content.length) {
    const newline = content.indexOf(10, from)
    const end = newline === -1 ? content.length : newline
    const bytes = end - from
    if (bytes > maxLineBytes) lines.push(null)
    else if (bytes > 0) lines.push(content.subarray(from, end).toString("utf8"))
    if (newline === -1) break
    from = newline + 1
  }
  return lines
}

describe("forEachLine", () => {
  it("visits each non-empty line, the last without its newline too; a line over the limit as null, at exactly the limit whole", () => {
    assert.deepStrictEqual(linesOf("a\nbb\n\nccc", 4, 3), ["a", "bb", "ccc"])
    // 4 bytes fit a limit of 4; 5 do not, whether the line ends in the chunk it started in or three chunks later.
    assert.deepStrictEqual(linesOf("abcd\nabcde\nok\n", 4, 64), ["abcd", null, "ok"])
    assert.deepStrictEqual(linesOf("abcd\nabcde\nok\n", 4, 2), ["abcd", null, "ok"])
    // A long line's end in a later chunk than its start, with a line after it in that chunk; and one at the file's end.
    assert.deepStrictEqual(linesOf(`${"x".repeat(11)}\nyz\n${"w".repeat(9)}`, 4, 4), [null, "yz", null])
    // A character split across two chunks is read whole.
    assert.deepStrictEqual(linesOf("é€😀\n", 16, 1), ["é€😀"])
    assert.deepStrictEqual(linesOf("", 4, 4), [])
  })

  it("reads any content as if it were read whole, whatever the chunk size and the limit (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("a", "b", "\n", "é", "😀", "\n\n"), { maxLength: 60 }).map((parts) => Buffer.from(parts.join(""))),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 9 }),
        (content, maxLineBytes, chunkBytes) => {
          assert.deepStrictEqual(linesOf(content, maxLineBytes, chunkBytes), expected(content, maxLineBytes))
        }
      ),
      { numRuns: 300 }
    )
  })

  it("reads at most maxBytes: the lines within them as if the file ended there, and a device that never ends stops", () => {
    const file = join(dir, `lines-${files++}`)
    writeFileSync(file, "one\ntwo\nthree\n")
    const fd = openSync(file, "r")
    const seen: Array<string | null> = []
    try {
      forEachLine(fd, 16, (line) => void seen.push(line), 3, 6)
    } finally {
      closeSync(fd)
    }
    assert.deepStrictEqual(seen, ["one", "tw"])
    // No newline in /dev/zero: one line over the limit, visited once, and the read ends at the bound.
    const zero = openSync("/dev/zero", "r")
    const fromZero: Array<string | null> = []
    try {
      forEachLine(zero, 1024, (line) => void fromZero.push(line), 4096, 64 * 1024)
    } finally {
      closeSync(zero)
    }
    assert.deepStrictEqual(fromZero, [null])
  })
})
