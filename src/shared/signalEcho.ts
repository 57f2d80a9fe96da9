/**
 * One stop signal delivered twice. coreutils `timeout` signals its child and then the child's process group, and a
 * kill of a group the program is in reaches it beside its parent's own signal (a terminal's Ctrl-C reaches npm and the
 * program it runs, and npm passes its own on): the same stop arrives twice, microseconds apart (seen: 2 of 8 stops of
 * the local serverless under `timeout` on a loaded machine quit without stopping its workers). A second stop (a second
 * Ctrl-C) means "now"; an echo must not.
 */

/**
 * How soon after a stop signal the same signal again is its echo. Echoes come within microseconds, or milliseconds
 * when a parent passes a terminal's Ctrl-C on (npm does, to the program its scripts `exec`), but are measured when
 * the program handles them, which a loaded machine delays; a person pressing Ctrl-C again after reading "stopping"
 * takes longer than this.
 */
export const ECHO_WINDOW_MS = 500

export interface SignalSeen<S extends string> {
  readonly signal: S
  /** Milliseconds on a clock that never steps. */
  readonly at: number
}

/** Whether `signal`, at `at`, repeats `first` closely enough to be the same stop. */
export const isEcho = <S extends string>(first: SignalSeen<S>, signal: S, at: number): boolean => signal === first.signal && at - first.at < ECHO_WINDOW_MS
