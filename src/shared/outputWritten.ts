/**
 * A program's last lines, handed to its reader before it exits. Node writes to a pipe without blocking: what the
 * reader has not taken yet waits in the process, and `process.exit` drops it (a worker's "still pending at exit" lines
 * and its `worker stopped`, probe 39 M1). A reader that has stalled must not hold the exit, so the wait is bounded.
 */
import type { Writable } from "node:stream"
import { Duration, Effect, Option } from "effect"

/** How long an exit waits for its output's reader. */
export const OUTPUT_GRACE = Duration.seconds(2)

/** How often the streams are looked at: Node signals `drain` only after a write that filled the buffer. */
const LOOK_EVERY = Duration.millis(10)

/** What the stream still holds, in bytes; nothing once it has failed or closed (it never will be written then). */
export const unwritten = (stream: Writable): number => (stream.writable ? stream.writableLength : 0)

/**
 * Completes once every stream has handed what it holds to the OS, or after `grace`: whether it was all handed on. Meant
 * for a finalizer (a stop signal interrupts the program): the wait itself is interruptible, so the grace ends it there too.
 */
export const outputWritten = (
  streams: ReadonlyArray<Writable> = [process.stdout, process.stderr],
  grace: Duration.DurationInput = OUTPUT_GRACE
): Effect.Effect<boolean> =>
  Effect.interruptible(
    Effect.suspend(function look(): Effect.Effect<void> {
      return streams.every((stream) => unwritten(stream) === 0) ? Effect.void : Effect.zipRight(Effect.sleep(LOOK_EVERY), Effect.suspend(look))
    })
  ).pipe(Effect.timeoutOption(grace), Effect.map(Option.isSome))
