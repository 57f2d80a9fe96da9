/**
 * Stop signals caught from the boot's first line, before the worker bundle loads (a tenth of a second in which no
 * handler of the worker's exists yet). Without a listener, Node's default for SIGTERM, SIGINT, SIGHUP and SIGUSR2 kills the
 * process, with no "worker stopped" line and no exit marker, so `start-vast.sh` reports a kill. With one, the signal
 * waits until the synchronous load of the bundle ends, then reaches the worker's own handlers. Should one reach these
 * first (a load that yields), it is kept and handed on (`takeEarlySignal`). Node's own start-up, before this line
 * (about 0.2 s on a small VM), stays exposed.
 */
const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2"] as const
type EarlySignal = (typeof SIGNALS)[number]

/** Where the boot leaves what it caught: the worker bundle is a separate script, sharing only the global object. */
const KEY = Symbol.for("null-worker.earlyProcess")

interface EarlyState {
  signal: EarlySignal | null
  readonly handlers: ReadonlyArray<readonly [EarlySignal, () => void]>
}

/** Install the early handlers. Run once, first thing, by `node dist/main.js`. */
export const prepareProcess = (): void => {
  const state: EarlyState = {
    signal: null,
    handlers: SIGNALS.map((signal) => [signal, () => void (state.signal ??= signal)] as const)
  }
  for (const [signal, handler] of state.handlers) process.on(signal, handler)
  Object.assign(globalThis, { [KEY]: state })
}

/**
 * For the worker, once its handlers are installed: the early handlers go, and the signal they caught, if any (SIGHUP
 * and SIGUSR2 said as SIGTERM, as the worker treats it before it serves).
 */
export const takeEarlySignal = (): "SIGTERM" | "SIGINT" | null => {
  const state = (globalThis as { [KEY]?: EarlyState })[KEY]
  if (state === undefined) return null
  for (const [signal, handler] of state.handlers) process.off(signal, handler)
  delete (globalThis as { [KEY]?: EarlyState })[KEY]
  return state.signal === null ? null : state.signal === "SIGINT" ? "SIGINT" : "SIGTERM"
}
