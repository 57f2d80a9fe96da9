/**
 * A body's bytes gathered from the chunks a stream gives. The first chunk is kept as it came (a body in one chunk,
 * all but every one, is never copied); from the second on, the chunks are copied into one buffer that doubles. Kept
 * as a list instead, a body sent a byte at a time costs an object per byte, each holding on to the memory of the
 * socket read it came in: about 70 times its size.
 */
export class ChunkAccumulator {
  private first: Uint8Array | undefined = undefined
  private buffer: Buffer | undefined = undefined
  /** Bytes gathered so far. */
  length = 0

  /** The bytes held for them: the first chunk's, or the buffer's. */
  get capacity(): number {
    return this.buffer?.length ?? this.first?.length ?? 0
  }

  /** What would be held after `push` of `size` more bytes, the buffer never growing past `limit`. */
  capacityAfter(size: number, limit: number): number {
    const total = this.length + size
    if (this.first === undefined && this.buffer === undefined) return size
    if (this.buffer !== undefined && total <= this.buffer.length) return this.buffer.length
    return Math.max(total, Math.min(limit, Math.max(2 * this.capacity, MIN_BUFFER)))
  }

  push(chunk: Uint8Array, limit: number): void {
    const total = this.length + chunk.length
    if (this.first === undefined && this.buffer === undefined) {
      this.first = chunk
    } else {
      if (this.buffer === undefined || total > this.buffer.length) {
        const grown = Buffer.allocUnsafe(this.capacityAfter(chunk.length, limit))
        const held = this.buffer ?? this.first
        if (held !== undefined) grown.set(held.subarray(0, this.length), 0)
        this.buffer = grown
        this.first = undefined
      }
      this.buffer.set(chunk, this.length)
    }
    this.length = total
  }

  /** The bytes gathered (a view, not a copy); empty when none came. */
  bytes(): Buffer {
    if (this.buffer !== undefined) return this.buffer.subarray(0, this.length)
    if (this.first === undefined) return EMPTY
    return Buffer.isBuffer(this.first) ? this.first : Buffer.from(this.first.buffer, this.first.byteOffset, this.first.byteLength)
  }

  /** Let go of what was gathered. */
  clear(): void {
    this.first = undefined
    this.buffer = undefined
    this.length = 0
  }
}

/** The buffer's first size once a second chunk comes; it then doubles. */
const MIN_BUFFER = 16 * 1024

const EMPTY = Buffer.alloc(0)
