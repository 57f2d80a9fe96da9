/**
 * Output for a reader that may fall behind (a paused pager, a stuck log shipper, a pipe nobody reads). Node keeps what
 * a pipe's reader has not taken yet in the process: a long-running program with a chatty source (a consumer's output
 * echoed by the serverless, probe 40 M1) would hold every later line, without bound, until it is killed for its
 * memory. Past a backlog of `OUTPUT_BACKLOG_MAX` bytes, texts are dropped and counted instead; the first text written
 * once the reader has caught up is preceded by a notice of how many.
 */
import type { Writable } from "node:stream"
import { unwritten } from "./outputWritten.js"
import { writeSafely } from "./safeOutput.js"

/** Bytes written and not yet taken by the reader past which output is dropped (and counted) rather than held. */
export const OUTPUT_BACKLOG_MAX = 8 * 1024 * 1024

/**
 * The backlog past which warnings and errors are dropped too, as a multiple of the bound for the rest: they are kept
 * past it, as what a reader needs, but a reader that never reads would have them held for ever, and a client can make
 * one a request (probe 56 #5: a callback given up per session grew the worker by ~3.5 KB each).
 */
export const keptBacklogMax = (max: number): number => 4 * max

/** The notice of `dropped` texts left out while the reader was more than `max` bytes behind (a whole line). */
export type DroppedNotice = (dropped: number, max: number) => string

/** What every notice says, of `dropped` things (`what`: "lines", "log lines", "events"), without a line end. */
export const droppedSentence = (dropped: number, what: string, max: number): string =>
  `${dropped} ${what} were dropped: the output's reader was more than ${max} bytes behind`

/** The usual notice, for plain text lines. */
export const droppedLines: DroppedNotice = (dropped, max) => `${droppedSentence(dropped, "lines", max)}\n`

export interface BoundedOutput {
  /** Writes `text`, or drops it while the reader is behind; `notice` says what was dropped, once the reader caught up. */
  readonly write: (text: string, notice?: DroppedNotice) => void
  /** Writes `text` (a warning, an error: what a reader needs) past the bound for the rest, up to `keptBacklogMax`. */
  readonly writeKept: (text: string, notice?: DroppedNotice) => void
}

export const boundedOutput = (stream: Writable, max: number = OUTPUT_BACKLOG_MAX): BoundedOutput => {
  let dropped = 0
  const writeKept = (text: string, notice: DroppedNotice = droppedLines) => {
    const backlog = unwritten(stream)
    if (backlog > keptBacklogMax(max)) return void dropped++
    if (dropped > 0 && backlog <= max) {
      writeSafely(stream, notice(dropped, max))
      dropped = 0
    }
    writeSafely(stream, text)
  }
  return {
    write: (text, notice) => {
      if (unwritten(stream) > max) dropped++
      else writeKept(text, notice)
    },
    writeKept
  }
}
