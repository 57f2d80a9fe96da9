/**
 * How many reservations a backlog asks for: `clamp(ceil((waiting + in_flight) / jobs_per_worker), min, max)`,
 * the rule KEDA's Redis scalers apply with `listLength` / `lagCount` as the per-replica target. At or
 * below the activation threshold the answer is `min` (zero by default), so a single message wakes the
 * endpoint from zero when the threshold is 0, KEDA's default.
 */

/** What the queue looks like now. */
export interface BacklogReading {
  /** Jobs nobody has taken yet: `LLEN`, or a stream group's lag. */
  readonly waiting: number
  /** Jobs taken but not finished: a stream group's pending entries, or the length of an in-flight list. */
  readonly inFlight: number
}

export interface ScalingRule {
  /** Jobs one worker is expected to handle: KEDA's `listLength` / `lagCount`. At least 1. */
  readonly jobsPerWorker: number
  readonly min: number
  readonly max: number
  /** The backlog must be above this for any reservation beyond `min`: KEDA's activation threshold. */
  readonly activation: number
}

export const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value))

/** The reservations `reading` asks for under `rule`. */
export const desiredWorkers = (reading: BacklogReading, rule: ScalingRule): number => {
  const total = Math.max(0, reading.waiting) + Math.max(0, reading.inFlight)
  if (total <= rule.activation) return clamp(0, rule.min, rule.max)
  return clamp(Math.ceil(total / rule.jobsPerWorker), rule.min, rule.max)
}

/**
 * How far a backlog that must be counted needs counting (`Backlog.ts`): one past both bounds the rule reads it against.
 * Beyond `max × jobsPerWorker` the answer is `max` whatever the count, and at or below `activation` it is `min`, so a
 * count cut at the larger of the two, plus one, gives the answer the whole count would.
 */
export const countCap = (rule: ScalingRule): number => Math.max(rule.max * rule.jobsPerWorker, rule.activation) + 1
