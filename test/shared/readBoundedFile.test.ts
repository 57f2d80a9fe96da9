import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { readBoundedFile } from "../../src/shared/readBoundedFile.js"

const dirs: Array<string> = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
const fileWith = (content: string | Buffer): string => {
  const dir = mkdtempSync(join(tmpdir(), "bounded-"))
  dirs.push(dir)
  writeFileSync(join(dir, "f"), content)
  return join(dir, "f")
}

describe("readBoundedFile", () => {
  it("a regular file up to the cap is read whole, at the cap exactly too; one byte past it is too large", () => {
    expect(readBoundedFile(fileWith("abc"), 3)).toEqual(Buffer.from("abc"))
    expect(readBoundedFile(fileWith("abcd"), 3)).toBe("too large")
    const big = Buffer.alloc(200_000, 7)
    expect(readBoundedFile(fileWith(big), 200_000)).toEqual(big)
    expect(readBoundedFile(fileWith(""), 10)).toEqual(Buffer.alloc(0))
  })

  it("a file that says it is empty but is not (a /proc file) is read to its end, within the cap", () => {
    const read = readBoundedFile("/proc/self/status", 1024 * 1024)
    expect(typeof read === "string" ? read : read.toString("utf8")).toMatch(/^Name:\t/)
    expect(readBoundedFile("/proc/self/status", 10)).toBe("too large")
  })

  it("a device or a directory is not a regular file; a missing path throws Node's error", () => {
    expect(readBoundedFile("/dev/zero", 10)).toBe("not a regular file")
    expect(readBoundedFile("/dev/null", 10)).toBe("not a regular file")
    expect(readBoundedFile(tmpdir(), 10)).toBe("not a regular file")
    expect(() => readBoundedFile(join(tmpdir(), "no-such-file-here"), 10)).toThrow(/ENOENT/)
  })
})
