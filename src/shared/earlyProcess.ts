/**
 * Stop signals caught from a boot's first line, before its program's bundle loads: the worker's `dist/main.js` (a tenth
 * of a second in which no handler of the worker's exists yet) and the command-line programs' `cliBoot.ts` (a few tenths).
 * Without a listener, Node's default for SIGTERM, SIGINT, SIGHUP and SIGUSR2 ends the process at once: a worker with no
 * "worker stopped" line and no exit marker (`start-vast.sh` reports a kill), a demo or client without a word (newcomer
 * 36 #9). With one, the signal waits until the synchronous load of a bundle ends and reaches the program's own handlers;
 * one that reaches these first (a load that yields, as a boot's `import()` does) is kept and handed on
 * (`takeEarlyStop`). Node's own start-up, before the boot's first line (about 0.2 s on a small VM), stays exposed.
 */
const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2"] as const
export type EarlySignal = (typeof SIGNALS)[number]

/** Where the boot leaves what it caught: the worker bundle is a separate script, sharing only the global object. */
const KEY = Symbol.for("null-worker.earlyProcess")

interface EarlyState {
  signal: EarlySignal | null
  readonly handlers: ReadonlyArray<readonly [EarlySignal, () => void]>
}

/** Install the early handlers. Run once, first thing, by a boot. */
export const prepareProcess = (): void => {
  const state: EarlyState = {
    signal: null,
    handlers: SIGNALS.map((signal) => [signal, () => void (state.signal ??= signal)] as const)
  }
  for (const [signal, handler] of state.handlers) process.on(signal, handler)
  Object.assign(globalThis, { [KEY]: state })
}

/**
 * Once the program's own handlers are installed (taken off before them, a signal still pending would be lost): the
 * early handlers go, and the signal they caught, if any, is returned. Null also when no boot ran (a test, a program
 * started from its bundle).
 */
export const takeEarlyStop = (): EarlySignal | null => {
  const state = (globalThis as { [KEY]?: EarlyState })[KEY]
  if (state === undefined) return null
  for (const [signal, handler] of state.handlers) process.off(signal, handler)
  delete (globalThis as { [KEY]?: EarlyState })[KEY]
  return state.signal
}

/** For the worker: `takeEarlyStop`, with SIGHUP and SIGUSR2 said as SIGTERM, as the worker treats them before it serves. */
export const takeEarlySignal = (): "SIGTERM" | "SIGINT" | null => {
  const signal = takeEarlyStop()
  return signal === null ? null : signal === "SIGINT" ? "SIGINT" : "SIGTERM"
}
