import { Writable } from "node:stream"

/**
 * A stream whose reader takes each write at once or, while `holding`, only at `takeAll`: what it has not taken counts
 * in its `writableLength`, as a pipe's unread bytes do in a process.
 */
export const heldStream = () => {
  let holding = true
  const held: Array<() => void> = []
  const writes: Array<string> = []
  const stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      writes.push(chunk.toString())
      if (holding) held.push(() => done())
      else done()
    }
  })
  return {
    stream,
    writes,
    hold: () => {
      holding = true
    },
    takeAll: () => {
      holding = false
      for (const take of held.splice(0)) take()
    }
  }
}
