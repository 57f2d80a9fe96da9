/**
 * The doctor's rules: which endpoint settings are risky for the null worker, what each costs you,
 * and the fix. A null worker is full or empty (one session fills it), so settings made for workers
 * that share capacity among many requests keep spare instances, stall scale-up, or keep the endpoint
 * from scaling to zero. The reasoning is the README's ("Deploying on Vast Serverless"); what Vast's
 * autoscaler does exactly is not public.
 */
import { type EndpointSettings, type SettingName, settingNames } from "./endpointSettings.js"

export interface Finding {
  readonly setting: SettingName
  /** The value the endpoint has; null when the lookup did not report it. */
  readonly value: number | null
  /** What the setting does to a null-worker endpoint. */
  readonly risk: string
  readonly fix: string
  /**
   * The value the fix sets, as `vastai update endpoint ID --<setting> <value>` takes it; null for a setting that could
   * not be checked, which is for the user to look at: writing the README's value over one the lookup did not show could
   * lower a working endpoint's `max_workers`, or its idle time.
   */
  readonly setTo: string | null
}

export interface Plan {
  /** Concurrent reservations the user plans (`--sessions`), one worker each. */
  readonly sessions: number
}

/** The value the README recommends for each setting, as `vastai update endpoint` takes it (300 s: its example of an idle time). */
const recommendedValue = (setting: SettingName, plan: Plan): string => {
  switch (setting) {
    case "target_util":
      return "1.0"
    case "inactivity_timeout":
      return "300"
    case "max_workers":
      return String(plan.sessions)
    case "min_load":
    case "cold_workers":
    case "max_queue_time":
    case "target_queue_time":
      return "0"
  }
}

/** The recommendation in words, for the fix of a setting that could not be checked. */
const recommendedText = (setting: SettingName, plan: Plan): string => {
  const value = recommendedValue(setting, plan)
  switch (setting) {
    case "inactivity_timeout":
      return `a positive number of seconds, e.g. ${value}`
    case "max_workers":
      return `at least ${value}, the concurrent sessions you plan (--sessions)`
    default:
      return value
  }
}

const round = (value: number): string => String(Number(value.toFixed(1)))

/** The risk of `setting` at `value` (null: not risky). */
const judge = (setting: SettingName, value: number, plan: Plan): Omit<Finding, "setting" | "value" | "setTo"> | null => {
  const to = recommendedValue(setting, plan)
  switch (setting) {
    case "target_util":
      return value < 1
        ? {
            risk: `capacity is kept for load / target_util, and a session fills a worker: one session (load 100) needs 100 / ${value} = ${round(100 / value)}, more than one worker's 100, so a spare worker runs (and is billed) while the session holds the other, and about one more per nine sessions after that (the README's target_util example: 100 / 0.9 = 111.1 → 2 workers)`,
            fix: `set target_util to ${to}`
          }
        : null
    case "min_load":
      return value > 0
        ? {
            risk: `a load floor of ${round(value)} keeps workers running with no session: the endpoint never scales to zero`,
            fix: `set min_load to ${to}`
          }
        : null
    case "cold_workers":
      return value > 0
        ? {
            risk: `${value} cold worker(s) (stopped but loaded instances) are kept when there is no load: you pay their storage while the endpoint is idle`,
            fix: `set cold_workers to ${to}`
          }
        : null
    case "inactivity_timeout":
      return value <= 0
        ? {
            risk:
              value < 0
                ? "a negative inactivity_timeout never scales the endpoint to zero"
                : "0 turns inactivity scale-down off: the endpoint never scales to zero",
            fix: `set inactivity_timeout to the idle seconds after which to scale to zero, e.g. ${to}`
          }
        : null
    case "max_queue_time":
      return value !== 0
        ? {
            risk: `a worker's queue time is estimated as cur_load / max_perf, so a worker holding a session (100 / 100 = 1 s) still looks available within ${round(value)} s: new reservations are routed to busy workers and bounce with 429 instead of starting a worker (the 2 → 3 scale-up stall)`,
            fix: `set max_queue_time to ${to}`
          }
        : null
    case "target_queue_time":
      return value !== 0
        ? {
            risk: `a reservation may wait ${round(value)} s for a busy worker before another is started, but a null worker stays busy for its whole session: with max_queue_time it makes the 2 → 3 scale-up stall`,
            fix: `set target_queue_time to ${to}`
          }
        : null
    case "max_workers":
      return value < plan.sessions
        ? {
            risk:
              value <= 0
                ? `max_workers ${value}: no worker will start, so every session you plan (--sessions ${plan.sessions}) waits until its route times out`
                : `at most ${value} worker(s), one session each: of the ${plan.sessions} concurrent sessions you plan (--sessions), the ones past ${value} wait until a session ends`,
            fix: `raise max_workers to at least ${to} (it is also your spending cap)`
          }
        : null
  }
}

/** Every risky setting of `endpoint`, in the order of `settingNames`; none when all is well. */
export const findings = (endpoint: EndpointSettings, plan: Plan): ReadonlyArray<Finding> =>
  settingNames.flatMap((setting): ReadonlyArray<Finding> => {
    const value = endpoint.settings[setting]
    // A setting given as the text "NaN" or "Infinity" (or "1e309") reads as a number every rule's comparison passes.
    if (value === null || !Number.isFinite(value)) {
      return [
        {
          setting,
          value,
          risk: value === null ? "the endpoint lookup did not report it, so it could not be checked" : `the endpoint lookup reported ${value}, not a finite number, so it could not be checked`,
          fix: `check it in the Vast console: for the null worker it should be ${recommendedText(setting, plan)}`,
          setTo: null
        }
      ]
    }
    const verdict = judge(setting, value, plan)
    return verdict === null ? [] : [{ setting, value, ...verdict, setTo: recommendedValue(setting, plan) }]
  })
