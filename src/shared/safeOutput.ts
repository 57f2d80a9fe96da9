/**
 * Output that a reader going away cannot crash. A pipe whose reader exits (`| head`, a killed `tee`, a parent that
 * died) fails the next write with EPIPE, which Node emits as an `error` event: unhandled, it ends the process, and a
 * worker would lose its open sessions without a close, a callback or a last report. A guarded stream swallows the
 * error; once it has failed, what is written to it is dropped.
 */
import { Effect, Fiber, Layer } from "effect"

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

/** Exit status of a program a closed pipe stopped: 128 + SIGPIPE, as a shell reports it. */
const READER_GONE_STATUS = 141

export interface ReaderWatch {
  readonly closed: Effect.Effect<void>
  readonly happened: () => boolean
}

/** A program's exit status once its work is over: `otherwise`, or, its reader gone, 141, said on stderr first. */
export const exitAfterReader = (reader: ReaderWatch, name: string, otherwise: number): number => {
  if (!reader.happened()) return otherwise
  writeSafely(process.stderr, `${name}: its output was closed; everything it started has stopped\n`)
  return READER_GONE_STATUS
}

/**
 * For a program whose output is the point (a demo, an example's run): once `stream`'s reader has gone (`| head` has
 * read its lines), there is no one to run for. `closed` completes then, to be raced with the program's work so that it
 * stops in order, as on Ctrl-C; `happened` says whether it did, for the exit status and a line on stderr.
 */
export const readerGone = (stream: NodeJS.WritableStream): ReaderWatch => {
  guardOutput(stream)
  let gone = false
  const closed = Effect.async<void>((resume) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE") return
      gone = true
      resume(Effect.void)
    }
    stream.on("error", onError)
    return Effect.sync(() => stream.off("error", onError))
  })
  return { closed, happened: () => gone }
}

/**
 * `program`, with what it needs from `layer`, stopped in order once its reader has gone. It runs in a fiber of its own,
 * and whatever ends the run (its reader's going, a signal's interruption) waits for that fiber's end: a race interrupted
 * by a signal lets its fiber go on to what follows (the exit's wait for the output, `outputWritten`) before its
 * interrupted side has stopped, and a layer provided outside would close beside the program's finalizers (the
 * launcher's stop-all stopped the demo's serverless while its client still ended its sessions, newcomer 28 #1; review
 * 44 M2).
 */
export const untilReaderGone = <A, E, R, ROut, E2, RIn>(
  program: Effect.Effect<A, E, R>,
  layer: Layer.Layer<ROut, E2, RIn>,
  reader: ReaderWatch
): Effect.Effect<A | void, E | E2, RIn | Exclude<R, ROut>> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.fork(restore(Effect.provide(program, layer))), (fiber) =>
      restore(Effect.raceFirst(Fiber.join(fiber), Effect.zipRight(reader.closed, Effect.asVoid(Fiber.interrupt(fiber))))).pipe(
        Effect.onInterrupt(() => Fiber.interrupt(fiber))
      )
    )
  )
