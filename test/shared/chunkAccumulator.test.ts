import { describe, expect, it } from "vitest"
import { FastCheck as fc } from "effect"
import { ChunkAccumulator } from "../../src/shared/chunkAccumulator.js"

const LIMIT = 256 * 1024

describe("ChunkAccumulator", () => {
  it("gathers any split of a body into its bytes, in order, holding at most twice what came (or 16 KiB), never past the limit", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 4096 }), { maxLength: 120 }),
        fc.integer({ min: 1, max: 64 }),
        (pieces, repeat) => {
          const body = new ChunkAccumulator()
          const chunks = pieces.flatMap((piece) => Array.from({ length: piece.length === 1 ? repeat : 1 }, () => piece))
          let length = 0
          for (const chunk of chunks) {
            if (length + chunk.length > LIMIT) break
            const expected = body.capacityAfter(chunk.length, LIMIT)
            body.push(chunk, LIMIT)
            length += chunk.length
            expect(body.length).toBe(length)
            expect(body.capacity).toBe(expected)
            expect(body.capacity).toBeLessThanOrEqual(Math.max(chunks[0]?.length ?? 0, Math.min(LIMIT, Math.max(2 * length, 16 * 1024))))
          }
          const all = Buffer.concat(chunks).subarray(0, length)
          expect(Buffer.compare(body.bytes(), all)).toBe(0)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("a body in one chunk is kept as it came, not copied; clear lets go of it", () => {
    const chunk = Buffer.from('{"a":1}')
    const body = new ChunkAccumulator()
    expect(body.bytes().length).toBe(0)
    body.push(chunk, LIMIT)
    expect(body.bytes()).toBe(chunk)
    const view = new Uint8Array([1, 2, 3])
    const other = new ChunkAccumulator()
    other.push(view, LIMIT)
    expect(other.bytes().buffer).toBe(view.buffer)
    body.clear()
    expect([body.length, body.capacity, body.bytes().length]).toEqual([0, 0, 0])
  })

  it("a body sent a byte at a time holds one buffer that doubles, not a chunk per byte", () => {
    const body = new ChunkAccumulator()
    const capacities = new Set<number>()
    for (let i = 0; i < 100_000; i++) {
      body.push(Buffer.of(i & 0xff), LIMIT)
      capacities.add(body.capacity)
    }
    expect([...capacities]).toEqual([1, 16 * 1024, 32 * 1024, 64 * 1024, 128 * 1024])
    expect(body.bytes()[99_999]).toBe(99_999 & 0xff)
  })
})
