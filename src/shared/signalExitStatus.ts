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
    if (stoppedBy !== null) return
    stoppedBy = signal
    // The other signal, coming second, ends the process at once too, as a repeat of the first does: its handlers
    // (the runtime's among them) go, and it is raised again, for Node's default action.
    const other = signal === "SIGINT" ? "SIGTERM" : "SIGINT"
    process.prependOnceListener(other, () => {
      process.removeAllListeners(other)
      process.kill(process.pid, other)
    })
  }
  // `once`: a second signal of the same kind finds no handler, and Node's default ends the process at once.
  process.once("SIGINT", remember("SIGINT"))
  process.once("SIGTERM", remember("SIGTERM"))
  return () => (stoppedBy === null ? null : 128 + constants.signals[stoppedBy])
}
