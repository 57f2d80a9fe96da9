/**
 * A frame of text redrawn in place on a terminal, on every event and once a second; the last frame stays on
 * screen when the scope closes. The client's live table and the autoscaler's live view are both one of these.
 */
import { Clock, Effect, Ref, Schedule, type Scope } from "effect"

export interface LiveFrameOptions<S, E> {
  /** Writes text as is (a reporter's `Write`). */
  readonly write: (text: string) => Effect.Effect<void>
  /** The terminal's width now. */
  readonly columns: () => number
  readonly initial: S
  readonly apply: (state: S, event: E, now: number) => S
  /** The frame's lines, none longer than `width`. */
  readonly render: (state: S, now: number, width: number) => ReadonlyArray<string>
}

/** Starts the redraws; returns what takes an event. */
export const liveFrame = <S, E>(options: LiveFrameOptions<S, E>): Effect.Effect<(event: E) => Effect.Effect<void>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const state = yield* Ref.make(options.initial)
    /** The frame on screen: its lines. */
    const drawn = yield* Ref.make<ReadonlyArray<string>>([])
    const lock = yield* Effect.makeSemaphore(1)
    const draw = lock.withPermits(1)(
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        // One column spare: a line that fills the last column makes some terminals wrap.
        const lines = options.render(yield* Ref.get(state), now, options.columns() - 1)
        const previous = yield* Ref.getAndSet(drawn, lines)
        if (previous.length === lines.length && previous.every((line, index) => line === lines[index])) return
        // Back to the top of the previous frame, clear to the end of the screen, draw.
        const rewind = previous.length > 0 ? `\x1b[${previous.length}F\x1b[0J` : ""
        yield* options.write(`${rewind}${lines.map((line) => `${line}\x1b[K`).join("\n")}\n`)
      })
    )
    yield* draw.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)
    // The last frame (drawn in place of the previous one, unless it is the same).
    yield* Effect.addFinalizer(() => draw)
    return (event: E) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        yield* Ref.update(state, (current) => options.apply(current, event, now))
        yield* draw
      })
  })
