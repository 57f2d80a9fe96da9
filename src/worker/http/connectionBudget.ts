/**
 * How many connections each listener may hold, so that a flood on the public port can never use up the
 * process's file descriptors: reports to the autoscaler, callbacks, health checks and the control port must
 * keep working. The budget comes from the soft `RLIMIT_NOFILE` (read from `/proc/self/limits`; on other
 * systems the configured cap is used as it is).
 */
import { readFileSync } from "node:fs"

export interface ConnectionBudget {
  readonly public: number
  readonly webhook: number
  readonly control: number
  /** The soft file-descriptor limit it was derived from, when known. */
  readonly fdLimit: number | null
}

/** Descriptors kept for everything that is not an inbound connection: stdio, outgoing requests, the journal. */
export const RESERVED_DESCRIPTORS = 64

export const budgetFor = (input: { readonly configured: number; readonly fdLimit: number | null; readonly callbackConcurrency: number }): ConnectionBudget => {
  const { callbackConcurrency, configured, fdLimit } = input
  if (fdLimit === null) return { public: configured, webhook: configured, control: 128, fdLimit }
  const available = Math.max(12, fdLimit - RESERVED_DESCRIPTORS - callbackConcurrency)
  const control = Math.min(128, Math.max(4, Math.floor(available / 10)))
  const inbound = available - control
  return {
    public: Math.max(4, Math.min(configured, Math.floor((inbound * 3) / 5))),
    webhook: Math.max(4, Math.min(configured, Math.floor((inbound * 2) / 5))),
    control,
    fdLimit
  }
}

/**
 * Said at start when `CALLBACK_CONCURRENCY` may take more than half of the descriptors the open-files limit leaves: a
 * socket each, with receivers that hang they are all held at once, and the worker's reports, health checks and
 * listeners then fail with `EMFILE` (probe 54 #2: 1,024 with a limit of 1,024). `null` when it fits or is unknown.
 */
export const callbackConcurrencyWarning = (input: { readonly fdLimit: number | null; readonly callbackConcurrency: number }): string | null => {
  const { callbackConcurrency, fdLimit } = input
  if (fdLimit === null || callbackConcurrency <= (fdLimit - RESERVED_DESCRIPTORS) / 2) return null
  return `CALLBACK_CONCURRENCY ${callbackConcurrency} may take more than half of what the limit of ${fdLimit} open files leaves past ${RESERVED_DESCRIPTORS} reserved: callbacks in flight to receivers that hang can use up the descriptors reports, health checks and connections need; lower it, or raise the limit (ulimit -n)`
}

/** The soft limit on open files, from `/proc/self/limits`; `null` where it cannot be read. */
export const softFdLimit = (): number | null => {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((text) => text.startsWith("Max open files"))
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0]
    if (soft === undefined || soft === "unlimited") return null
    const value = Number(soft)
    return Number.isSafeInteger(value) && value > 0 ? value : null
  } catch {
    return null
  }
}
