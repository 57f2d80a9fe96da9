/**
 * The bytes held for request bodies still being received, by the listeners that share this budget, and the most
 * they may hold together. Each connection may send a body up to the listener's limit; without a bound over all of
 * them, a thousand connections that each stop one byte short of 1 MiB hold a gigabyte before anything checks who
 * they are. A plain counter: the listeners run on one thread and charge it from Node's callbacks.
 */
export interface BodyBudget {
  readonly max: number
  held: number
}

export const makeBodyBudget = (max: number): BodyBudget => ({ max, held: 0 })

/** The public and webhook listeners' budget together: 64 bodies of the 1 MiB limit. The control port has its own. */
export const SHARED_BODY_BUDGET_BYTES = 64 * 1024 * 1024

/** The control port's own: a flood of the public ports cannot keep a consumer's `/release` out. */
export const CONTROL_BODY_BUDGET_BYTES = 16 * 1024 * 1024
