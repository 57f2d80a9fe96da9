/**
 * Ending a process by a signal, also where the kernel drops the signal's default: as PID 1 of a container started
 * without `--init`, a signal with no handler is ignored, and a worker sent SIGQUIT served on (probe 58 #6).
 */
import { constants } from "node:os"

/**
 * Raise `signal` again, its listeners gone (elsewhere its default then ends the process, a SIGQUIT with its core
 * dump); where that did nothing, exit with the status a shell gives that signal (128 + its number).
 */
export const endBySignal = (signal: NodeJS.Signals): never => {
  process.kill(process.pid, signal)
  return process.exit(128 + (constants.signals[signal] ?? 0))
}

/**
 * As PID 1 only, SIGQUIT ends the worker as its default does elsewhere (exit 131). Elsewhere no handler is installed:
 * a handler waits for the event loop, and a worker whose main thread is stuck would then not end on SIGQUIT (review
 * 65 #1: 5.8 s against 5 ms).
 */
export const quitOnSigquitAsPid1 = (): void => {
  if (process.pid === 1) process.once("SIGQUIT", () => endBySignal("SIGQUIT"))
}
