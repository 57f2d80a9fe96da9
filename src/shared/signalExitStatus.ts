/**
 * The exit status of a program a signal stopped. `runMain` turns SIGINT and SIGTERM into an interruption (the
 * program then runs its own shutdown) but does not say which signal it was; such a program exits 128 + the
 * signal's number (130, 143), as a shell reports a process a signal stopped.
 */
import { constants } from "node:os"

/** Starts listening; the returned function gives the status for the first SIGINT/SIGTERM, or null when none came. */
export const rememberStopSignal = (): (() => number | null) => {
  let stoppedBy: "SIGINT" | "SIGTERM" | null = null
  const remember = (signal: "SIGINT" | "SIGTERM") => () => {
    stoppedBy ??= signal
  }
  // `once`: a second signal finds no handler, and Node's default ends the process at once.
  process.once("SIGINT", remember("SIGINT"))
  process.once("SIGTERM", remember("SIGTERM"))
  return () => (stoppedBy === null ? null : 128 + constants.signals[stoppedBy])
}
