/**
 * Every table of the project's pages stays one table: a line that follows a row without starting with `|` is taken
 * by GitHub for a row of its own (a cell's text broken over two lines shows half of it as a bogus row).
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../..", import.meta.url))
const pages = ["README.md", ...readdirSync(join(root, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)]

/** The numbers of the lines that follow a table row outside code without being a row, a blank line or a block's start. */
const brokenRows = (text: string): ReadonlyArray<number> => {
  const broken: Array<number> = []
  let fenced = false
  let previousIsRow = false
  text.split("\n").forEach((line, index) => {
    if (line.startsWith("```")) fenced = !fenced
    const isRow = !fenced && line.startsWith("|")
    // A heading or an HTML block (a marker comment) ends a table; so does a blank line.
    if (previousIsRow && !isRow && line.trim() !== "" && !/^(#{1,6} |<)/.test(line)) broken.push(index + 1)
    previousIsRow = isRow
  })
  return broken
}

describe("tables in the pages", () => {
  it("a cell broken over two lines is found; rows, blank lines, headings and marker comments after a row are not", () => {
    expect(brokenRows("| a | b |\n|---|---|\n| x | y\nz |\n\ntext")).toEqual([4])
    expect(brokenRows("| a |\n|---|\n| x |\n<!-- end -->\n| c |\n\n## next\n| d |\n## h")).toEqual([])
    expect(brokenRows("```\n| not a table |\nplain\n```")).toEqual([])
  })

  it.each(pages)("%s: every row of every table is one line", (page) => {
    expect(brokenRows(readFileSync(join(root, page), "utf8"))).toEqual([])
  })
})
