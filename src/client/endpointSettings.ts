/**
 * An endpoint's scaling settings as the endpoint lookup reports them (vast-protocol.md §10), for the
 * doctor. A setting the lookup did not report is null.
 */

/** The settings the doctor checks, in the order it reports them. */
export const settingNames = [
  "target_util",
  "min_load",
  "cold_workers",
  "inactivity_timeout",
  "max_queue_time",
  "target_queue_time",
  "max_workers"
] as const

export type SettingName = (typeof settingNames)[number]

export interface EndpointSettings {
  readonly id: number
  readonly name: string
  /** `endpoint_state`, when reported. */
  readonly state: string | null
  readonly settings: Readonly<Record<SettingName, number | null>>
}
