/**
 * Every link between the project's pages lands: a relative file link names a file of the checkout, and an anchor
 * (`#…`, on its own or after a page) names a heading of that page, as GitHub makes anchors of headings.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../..", import.meta.url))
const pages = ["README.md", ...readdirSync(join(root, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)]

/** GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces made `-`; repeats get `-1`, `-2`. */
const anchorsOf = (text: string): ReadonlySet<string> => {
  const seen = new Map<string, number>()
  const anchors = new Set<string>()
  let fenced = false
  for (const line of text.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced
    const heading = fenced ? null : /^#{1,6} (.+)$/.exec(line)
    if (heading === null) continue
    const slug = (heading[1] ?? "").toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-")
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    anchors.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return anchors
}

/** The targets of the page's Markdown links outside code: `[text](target)`. */
const linksOf = (text: string): ReadonlyArray<string> =>
  text
    .split(/^```[\s\S]*?^```/m)
    .join("\n")
    .replace(/`[^`\n]*`/g, "")
    .match(/\]\(([^)\s]+)\)/g)
    ?.map((link) => link.slice(2, -1)) ?? []

describe("links between the pages", () => {
  it.each(pages)("%s: each relative link names a file, and each anchor a heading", (page) => {
    const broken: Array<string> = []
    for (const target of linksOf(readFileSync(join(root, page), "utf8"))) {
      if (/^[a-z]+:/.test(target)) continue
      const [path = "", anchor] = target.split("#")
      const file = path === "" ? join(root, page) : join(dirname(join(root, page)), path)
      if (!existsSync(file)) {
        broken.push(`${target}: no file ${relative(root, file)}`)
        continue
      }
      if (anchor !== undefined && file.endsWith(".md") && !anchorsOf(readFileSync(file, "utf8")).has(anchor)) broken.push(`${target}: no heading makes #${anchor}`)
    }
    expect(broken).toEqual([])
  })
})
