/**
 * The stop signals of the command-line programs (client, demo, local serverless). `runMain` turns the first SIGINT or
 * SIGTERM into an interruption (the program then runs its own shutdown) but does not say which signal it was; such a
 * program exits 128 + the signal's number (130, 143, 129), as a shell reports a process a signal stopped.
 *
 * SIGHUP (the terminal or the ssh connection closed) and SIGUSR2 (which the worker takes as a stop too) are stopped
 * as SIGTERM is: `runMain` does not listen for them, and Node's default would kill the program before it ends its
 * sessions or stops its workers.
 *
 * A later stop signal quits at once (a second Ctrl-C), except the first one's echo (`signalEcho.ts`).
 */
import { Clock } from "effect"
import { constants } from "node:os"
import { takeEarlyStop } from "./earlyProcess.js"
import { endBySignal } from "./endBySignal.js"
import { unsafeMonotonicMillis } from "./monotonic.js"
import { isEcho, type SignalSeen } from "./signalEcho.js"

export type StopSignalName = "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGUSR2"

const STOPS: ReadonlyArray<StopSignalName> = ["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR2"]

/**
 * End the process by `signal` now: its handlers (the runtime's among them) go, and it is raised again, Node's default
 * then ending the process; as PID 1 of a container without `--init`, where that default is dropped and the process had
 * gone on (probe 58 #6), it exits with the status a shell gives that signal.
 */
export const quitBySignal = (signal: StopSignalName) => {
  for (const stop of STOPS) process.removeAllListeners(stop)
  endBySignal(signal)
}

const liveClock = Clock.make()
const liveMillis = () => unsafeMonotonicMillis(liveClock)

/**
 * Starts listening, before the runtime does; the returned function gives the exit status for the first stop signal,
 * or null when none came. `now`: milliseconds on a clock that never steps; `quitNow`: how a second stop ends the
 * process (tests give their own of both).
 */
export const rememberStopSignal = (now: () => number = liveMillis, quitNow: (signal: StopSignalName) => void = quitBySignal): (() => number | null) => {
  let first: SignalSeen<StopSignalName> | null = null
  /** Set while a hang-up is passed on to the runtime as SIGTERM: that SIGTERM is the same stop, not a second one. */
  let forwarding = false
  const onStop = (signal: StopSignalName) => () => {
    if (forwarding) return
    const at = now()
    if (first === null) {
      first = { signal, at }
      if (signal === "SIGHUP" || signal === "SIGUSR2") {
        // Said to the runtime as SIGTERM, synchronously (the runtime's listener runs in this call).
        forwarding = true
        try {
          process.emit("SIGTERM", "SIGTERM")
        } finally {
          forwarding = false
        }
      }
      return
    }
    if (!isEcho(first, signal, at)) quitNow(signal)
  }
  for (const signal of STOPS) process.on(signal, onStop(signal))
  // One that came while the program loaded, kept by its boot (`cliBoot.ts`): raised again, it arrives once the runtime
  // listens too (it starts in this same turn), and stops the program as any first stop does.
  const early = takeEarlyStop()
  if (early !== null) process.kill(process.pid, early)
  return () => (first === null ? null : 128 + constants.signals[first.signal])
}
