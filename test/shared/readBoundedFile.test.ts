import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it, vi } from "vitest"
import { readBoundedFile } from "../../src/shared/readBoundedFile.js"

/** The reads the reader makes, counted: a file that says it is empty must not be read a byte at a time. */
const reads = vi.hoisted(() => ({ count: 0 }))
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>()
  return {
    ...fs,
    readSync: (fd: number, buffer: NodeJS.ArrayBufferView, offset: number, length: number, position: number | null) => {
      reads.count += 1
      return fs.readSync(fd, buffer, offset, length, position)
    }
  }
})

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

  it("a file that says it is empty but is not (a /proc file) is read to its end, within the cap, in large reads", () => {
    reads.count = 0
    const read = readBoundedFile("/proc/self/status", 1024 * 1024)
    expect(typeof read === "string" ? read : read.toString("utf8")).toMatch(/^Name:\t/)
    // Its ~1.5 KB in one read, and the read that finds the end (a byte a read took about 1,500).
    expect(reads.count).toBe(2)
    expect(readBoundedFile("/proc/self/status", 10)).toBe("too large")
  })

  it("a device or a directory is not a regular file; a missing path throws Node's error", () => {
    expect(readBoundedFile("/dev/zero", 10)).toBe("not a regular file")
    expect(readBoundedFile("/dev/null", 10)).toBe("not a regular file")
    expect(readBoundedFile(tmpdir(), 10)).toBe("not a regular file")
    expect(() => readBoundedFile(join(tmpdir(), "no-such-file-here"), 10)).toThrow(/ENOENT/)
  })
})
