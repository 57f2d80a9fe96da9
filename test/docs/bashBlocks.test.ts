/**
 * Every `bash` block of the README and docs/ parses (`bash -n`): a block that does not (a quote in a placeholder) leaves
 * a reader who pastes it at a `>` prompt with no reason given.
 */
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../..", import.meta.url))
const pages = ["README.md", ...readdirSync(join(root, "docs")).filter((name) => name.endsWith(".md")).map((name) => join("docs", name))]

describe("the pages' bash blocks", () => {
  it("each parses with bash -n", () => {
    const broken: Array<string> = []
    let count = 0
    for (const page of pages) {
      const text = readFileSync(join(root, page), "utf8")
      for (const match of text.matchAll(/```bash\n([\s\S]*?)```/g)) {
        count += 1
        const checked = spawnSync("bash", ["-n"], { input: match[1], encoding: "utf8" })
        if (checked.status !== 0) broken.push(`${page}, the block at line ${text.slice(0, match.index).split("\n").length}: ${checked.stderr.trim()}`)
      }
    }
    expect(count).toBeGreaterThan(10)
    expect(broken).toEqual([])
  })
})
