/**
 * One scaling decision of the daemon, as a pure function of what it sees (the backlog, the reservations
 * it holds, recent history) so that every rule can be tested without a clock or a network.
 *
 * - Scale-out follows the desired count at once, but starts at most `scaleOutStep` reservations per
 *   `scaleOutWindowMs`, and none while a back-off after failed reservations runs (the autoscaler may be down).
 * - Scale-in is never done by the daemon ending a session: the consumer beside a worker releases it
 *   when it has found no job for its idle grace, unless its session is in the `keep` set. The daemon
 *   only decides which sessions stay protected: the oldest `target` of them, where `target` is the
 *   highest desired count of the last `cooldownMs` (a stabilisation window, as the HPA's for scale-down).
 *   A backlog that oscillates faster than the cool-down therefore keeps its workers.
 * - Reservations still looking for a worker (no session yet, so no consumer) beyond `target` are cancelled.
 * - A session whose worker drains or does not answer is not counted as held: a replacement starts at once.
 *   If it comes back, the surplus goes the usual way (its consumer, idle and unprotected, releases it).
 */
import { type BacklogReading, desiredWorkers, type ScalingRule } from "./scalingRule.js"

export interface PlannerSettings extends ScalingRule {
  /** How long a higher desired count keeps protecting sessions after it dropped. */
  readonly cooldownMs: number
  /** At most this many reservations started per `scaleOutWindowMs`. */
  readonly scaleOutStep: number
  readonly scaleOutWindowMs: number
  /** After `n` failed reservations in a row, no new one for `min(retryMaxMs, retryBaseMs · 2^(n-1))`. */
  readonly retryBaseMs: number
  readonly retryMaxMs: number
}

/** A session the daemon holds, as the planner needs it. */
export interface HeldView {
  readonly sessionId: string
  /** Epoch ms. */
  readonly createdAt: number
  /** The worker said it drains: the session closes soon and needs a replacement. */
  readonly draining: boolean
  /**
   * Its latest ping got no answer: its worker may be gone. It is still pinged until its deadline (it may
   * come back, and its consumer may be mid-job), but a replacement is started meanwhile.
   */
  readonly unreachable: boolean
}

export interface PlanInput {
  /** Epoch ms. */
  readonly now: number
  /** Null when the backlog could not be read: nothing is started or cancelled, protection stays. */
  readonly reading: BacklogReading | null
  readonly open: ReadonlyArray<HeldView>
  /** Reservations routing or creating, without a session yet. */
  readonly reserving: number
  /** Failed reservations in a row (0 after a success). */
  readonly failureStreak: number
  /** Epoch ms of the latest failure. */
  readonly lastFailureAt: number | null
}

export interface PlannerState {
  /** Desired counts seen within the cool-down, oldest first. */
  readonly recent: ReadonlyArray<{ readonly at: number; readonly desired: number }>
  /** Start times of the reservations started within the scale-out window. */
  readonly starts: ReadonlyArray<number>
}

export const initialPlannerState: PlannerState = { recent: [], starts: [] }

export interface Plan {
  /** What the backlog asks for now; null when it could not be read. */
  readonly desired: number | null
  /** The count kept through the cool-down: protected sessions, and the bound for cancelling. */
  readonly target: number
  /** Reservations to start now. */
  readonly start: number
  /** Reservations without a session to give up now (newest first). */
  readonly cancel: number
  /** Sessions whose consumers must not release their workers when idle. */
  readonly keep: ReadonlyArray<string>
  /** Why fewer were started than wanted. */
  readonly limited: "rate" | "backoff" | null
}

/** The back-off after `streak` failed reservations in a row. */
export const retryDelayMs = (streak: number, settings: Pick<PlannerSettings, "retryBaseMs" | "retryMaxMs">): number =>
  streak <= 0 ? 0 : Math.min(settings.retryMaxMs, settings.retryBaseMs * 2 ** Math.min(streak - 1, 30))

const byAge = (a: HeldView, b: HeldView): number => a.createdAt - b.createdAt || (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0)

export const plan = (state: PlannerState, input: PlanInput, settings: PlannerSettings): readonly [Plan, PlannerState] => {
  const { now } = input
  const live = input.open.filter((held) => !held.draining && !held.unreachable).slice().sort(byAge)
  const held = live.length + input.reserving
  const desired = input.reading === null ? null : desiredWorkers(input.reading, settings)
  const windowed = state.recent.filter((entry) => entry.at > now - settings.cooldownMs)
  const recent = desired === null ? windowed : [...windowed, { at: now, desired }]
  // Blind (no reading and no history): keep what is held rather than let consumers go.
  const target = recent.length === 0 ? live.length : recent.reduce((highest, entry) => Math.max(highest, entry.desired), 0)
  const keep = live.slice(0, Math.min(target, live.length)).map((entry) => entry.sessionId)
  const starts = state.starts.filter((at) => at > now - settings.scaleOutWindowMs)

  if (desired === null) {
    return [{ desired, target, start: 0, cancel: 0, keep, limited: null }, { recent, starts }]
  }

  const wanted = Math.max(0, desired - held)
  const backingOff =
    input.failureStreak > 0 && input.lastFailureAt !== null && now < input.lastFailureAt + retryDelayMs(input.failureStreak, settings)
  const allowance = backingOff ? 0 : Math.max(0, settings.scaleOutStep - starts.length)
  const start = Math.min(wanted, allowance)
  const limited = start < wanted ? (backingOff ? "backoff" : "rate") : null
  const cancel = held > target ? Math.min(input.reserving, held - target) : 0
  return [
    { desired, target, start, cancel, keep, limited },
    { recent, starts: [...starts, ...Array.from({ length: start }, () => now)] }
  ]
}
