/**
 * The cap against a real V8 and its `gc` observer, in a fresh Node (this test's own process has long grown its young
 * generation to the most): while it holds, objects that survive scavenges in bulk grow the young generation to the
 * cap and no further; once its scope is closed, the same work grows it past that, V8 reading its growth factor each
 * time it grows the space.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"
import { afterAll, describe, expect, it } from "vitest"
import { childEnv } from "../../support/process.js"

const directory = mkdtempSync(join(tmpdir(), "null-worker-young-"))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

describe("the young generation's cap in V8", () => {
  it("grows the young generation to the cap and stops there while the scope is open; closed, the same work grows it past", async () => {
    const script = join(directory, "child.mjs")
    await build({
      entryPoints: [fileURLToPath(new URL("../../support/youngGenerationChild.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: script,
      logLevel: "silent"
    })
    const { after, before, capped } = JSON.parse(execFileSync(process.execPath, [script], { encoding: "utf8", env: childEnv() })) as {
      readonly before: number
      readonly capped: { readonly cap: string; readonly sizes: ReadonlyArray<number> }
      readonly after: ReadonlyArray<number>
    }
    expect(before).toBeGreaterThan(0)
    expect(capped.cap).toBe("Capped")
    // One doubling fits under a cap of twice the size it started at, and then no more.
    expect(capped.sizes).toEqual([2 * before])
    // Without the cap the same work grows it past that.
    expect(Math.max(...after)).toBeGreaterThan(2 * before)
  }, 60_000)
})
