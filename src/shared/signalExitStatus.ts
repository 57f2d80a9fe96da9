/**
 * The exit status of a program a signal stopped. `runMain` turns SIGINT and SIGTERM into an interruption (the
 * program then runs its own shutdown) but does not say which signal it was; such a program exits 128 + the
 * signal's number (130, 143, 129), as a shell reports a process a signal stopped.
 *
 * SIGHUP (the terminal or the ssh connection closed) and SIGUSR2 (which the worker takes as a stop too) are stopped
 * as SIGTERM is: `runMain` does not listen for them, and Node's default would kill the program before it ends its
 * sessions or stops its workers.
 */
import { constants } from "node:os"

type StopSignal = "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGUSR2"

/** The stops `runMain` does not hear of itself: each is passed on to it as SIGTERM. */
const FORWARDED = ["SIGHUP", "SIGUSR2"] as const

/** A further `signal` ends the process at once: its handlers (the runtime's among them) go, and it is raised again. */
const quitOnNext = (signal: "SIGINT" | "SIGTERM") =>
  process.prependOnceListener(signal, () => {
    process.removeAllListeners(signal)
    process.kill(process.pid, signal)
  })

/** A hang-up (or SIGUSR2) stops the program as SIGTERM would, through the runtime's own handler. Once: a second ends it at once. */
export const stopOnHangup = (): void => {
  for (const signal of FORWARDED) process.once(signal, () => process.kill(process.pid, "SIGTERM"))
}

/** Starts listening; the returned function gives the status for the first SIGINT/SIGTERM/SIGHUP/SIGUSR2, or null when none came. */
export const rememberStopSignal = (): (() => number | null) => {
  let stoppedBy: StopSignal | null = null
  const remember = (signal: StopSignal) => () => {
    if (stoppedBy !== null) return
    stoppedBy = signal
    if (signal === "SIGHUP" || signal === "SIGUSR2") {
      // Said to the runtime as SIGTERM (this listener, already answered, lets it through); a Ctrl-C after it quits.
      quitOnNext("SIGINT")
      process.kill(process.pid, "SIGTERM")
      return
    }
    // The other signal, coming second, ends the process at once too, as a repeat of the first does.
    quitOnNext(signal === "SIGINT" ? "SIGTERM" : "SIGINT")
  }
  // `once`: a second signal of the same kind finds no handler, and Node's default ends the process at once.
  process.once("SIGINT", remember("SIGINT"))
  process.once("SIGTERM", remember("SIGTERM"))
  for (const signal of FORWARDED) process.once(signal, remember(signal))
  return () => (stoppedBy === null ? null : 128 + constants.signals[stoppedBy])
}
