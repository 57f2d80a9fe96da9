/**
 * A file's lines, read a chunk at a time: memory holds one line, never the whole file (the callback journal's replay
 * reads a file that may have grown large, or been filled with garbage).
 */
import { readSync } from "node:fs"

/** A read's size: a journal line is usually a few hundred bytes, and a chunk holds thousands. */
const READ_CHUNK_BYTES = 1024 * 1024

/**
 * Visit each non-empty line of `fd` (split at `\n`, without it; the last one may have none), decoded as UTF-8. A line
 * longer than `maxLineBytes` is visited as `null`, and none of it is kept past the limit. At most `maxBytes` are read
 * (a file that another process keeps appending to would otherwise never end).
 */
export const forEachLine = (
  fd: number,
  maxLineBytes: number,
  visit: (line: string | null) => void,
  chunkBytes: number = READ_CHUNK_BYTES,
  maxBytes: number = Number.POSITIVE_INFINITY
) => {
  const chunk = Buffer.alloc(chunkBytes)
  let left = maxBytes
  // Past the bound, a read of 0 bytes: the end.
  const readChunk = () => readSync(fd, chunk, 0, Math.min(chunk.length, left), null)
  let parts: Array<Buffer> = []
  let length = 0
  let tooLong = false
  const flush = () => {
    if (tooLong) visit(null)
    else if (length > 0) visit(Buffer.concat(parts, length).toString("utf8"))
    parts = []
    length = 0
    tooLong = false
  }
  for (let read = readChunk(); read > 0; read = readChunk()) {
    left -= read
    let from = 0
    for (let newline = chunk.indexOf(10, from); newline !== -1 && newline < read; newline = chunk.indexOf(10, from)) {
      if (!tooLong) parts.push(Buffer.from(chunk.subarray(from, newline)))
      length += newline - from
      if (length > maxLineBytes) tooLong = true
      flush()
      from = newline + 1
    }
    length += read - from
    if (length > maxLineBytes) tooLong = true
    if (!tooLong && read > from) parts.push(Buffer.from(chunk.subarray(from, read)))
  }
  flush()
}
