/**
 * Output that a reader going away cannot crash. A pipe whose reader exits (`| head`, a killed `tee`, a parent that
 * died) fails the next write with EPIPE, which Node emits as an `error` event: unhandled, it ends the process, and a
 * worker would lose its open sessions without a close, a callback or a last report. A guarded stream swallows the
 * error; once it has failed, what is written to it is dropped.
 */
const guarded = new WeakSet<NodeJS.WritableStream>()

/** `stream`, with its errors absorbed (once per stream, however often it is asked). */
export const guardOutput = <S extends NodeJS.WritableStream>(stream: S): S => {
  if (!guarded.has(stream)) {
    guarded.add(stream)
    stream.on("error", () => undefined)
  }
  return stream
}

/** Writes `text` unless the stream has failed or closed. */
export const writeSafely = (stream: NodeJS.WritableStream, text: string): void => {
  guardOutput(stream)
  if (stream.writable) stream.write(text)
}
