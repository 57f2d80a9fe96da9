/**
 * The pieces a request body may come in (`data` events: TCP reads, or chunks of a chunked body). Each costs the
 * parser about as much as a large one: a body a byte at a time costs ~65 times the CPU of one piece and holds the
 * process's one thread meanwhile (probe 39 I2, probe 42 M2). A whole 1 MiB body in pieces of 64 bytes; TCP delivers
 * segments of ~1.4 KB, 1 MiB in ~750 of them.
 */
import type { IncomingMessage } from "node:http"

export const MAX_BODY_PIECES = 16 * 1024

/**
 * Cut `req`'s connection once its body passes `MAX_BODY_PIECES` pieces, counted where Node's parser hands each piece
 * to the request (`push`), whoever reads them: the platform's apps read bodies through their own streams.
 */
export const cutPastMaxPieces = (req: IncomingMessage): void => {
  let pieces = 0
  const push = req.push
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && ++pieces > MAX_BODY_PIECES) {
      this.socket.destroy()
      return false
    }
    return push.call(this, chunk, encoding)
  }
}
