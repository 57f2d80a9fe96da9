/** Writing a whole text to a descriptor, synchronously. */
import { writeSync } from "node:fs"

/** Write all of `text` (a nearly full disk writes part of it and fails only on the next call); returns its bytes. */
export const writeAll = (fd: number, text: string): number => {
  const bytes = Buffer.from(text)
  for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written, bytes.length - written)
  return bytes.length
}
