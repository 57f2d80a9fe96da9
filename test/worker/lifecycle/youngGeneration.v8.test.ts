/**
 * The cap against a real V8, in a fresh Node (this test's own process has long grown its young generation to the
 * most): while it holds, objects that survive scavenges in bulk do not grow the young generation; once its scope is
 * closed, the same work grows it, V8 reading its growth factor each time it grows the space.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"
import { afterAll, describe, expect, it } from "vitest"

const directory = mkdtempSync(join(tmpdir(), "null-worker-young-"))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

describe("the young generation's cap in V8", () => {
  it("holds the young generation at its size while the scope is open; closed, the same work grows it", async () => {
    const script = join(directory, "child.mjs")
    await build({
      entryPoints: [fileURLToPath(new URL("../../support/youngGenerationChild.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: script,
      logLevel: "silent"
    })
    const { after, before, capped } = JSON.parse(execFileSync(process.execPath, [script], { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "" } })) as {
      readonly before: number
      readonly capped: { readonly cap: string; readonly young: number }
      readonly after: number
    }
    expect(before).toBeGreaterThan(0)
    expect(capped.cap).toBe("Capped")
    expect(capped.young).toBe(before)
    expect(after).toBeGreaterThan(before)
  }, 60_000)
})
