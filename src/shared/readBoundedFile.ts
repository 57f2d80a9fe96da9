/**
 * A file named by the user, read whole only when it is a regular file of bounded size: a wrong path (a disk image, a
 * device that never ends, a FIFO nobody writes) must cost a one-line refusal, not the process's memory or a hang.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs"

export type BoundedFileRefusal = "not a regular file" | "too large"

/** A refusal in words, with the cap: `not a regular file`, `larger than 8 MiB`. */
export const refusalText = (refusal: BoundedFileRefusal, maxBytes: number): string =>
  refusal === "too large" ? `larger than ${maxBytes / 1024 / 1024} MiB` : refusal

/**
 * The bytes of `path` when it is a regular file of at most `maxBytes`, else the rule it breaks. What Node's calls throw
 * (no such file, no permission) is thrown.
 */
export const readBoundedFile = (path: string, maxBytes: number): Buffer | BoundedFileRefusal => {
  // Non-blocking: opening a FIFO for reading would otherwise wait for a writer before the check below.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const stats = fstatSync(fd)
    if (!stats.isFile()) return "not a regular file"
    if (stats.size > maxBytes) return "too large"
    // Read to the end, not to the size it had: a file still growing is bounded too. One byte over the cap tells it. At
    // least 64 KiB a read: a file that says it is empty (a /proc file, one being written) is not read byte by byte.
    const chunk = Buffer.alloc(Math.min(maxBytes + 1, Math.max(stats.size + 1, 64 * 1024)))
    const parts: Array<Buffer> = []
    let length = 0
    for (let read = readSync(fd, chunk, 0, chunk.length, null); read > 0; read = readSync(fd, chunk, 0, chunk.length, null)) {
      length += read
      if (length > maxBytes) return "too large"
      parts.push(Buffer.from(chunk.subarray(0, read)))
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length)
  } finally {
    closeSync(fd)
  }
}
