/**
 * A length of time as a person types it on a command line or in a variable: seconds (`90`, `0.25`), or a number with a
 * short unit (`250ms`, `90s`, `10m`, `2h`, `1d`). Read to seconds; the rules of each setting (above 0, at most a day)
 * apply to the result.
 */
import { Option } from "effect"

/** How a value in seconds may be written, for a message or a help page. */
export const SECONDS_FORMS = "a number of seconds, or one with a unit (ms, s, m, h, d): 90, 0.5, 250ms, 90s, 10m, 2h, 1d"

/**
 * A number as the numeric flags take it: decimal notation, or `Infinity` and `NaN` so that they are refused by the
 * flag's own rule. (`Number` would also read `0x10`, `0b1`, `0o7` and surrounding spaces: a count of 16 nobody typed.)
 */
export const NUMBER_PATTERN = "[-+]?(?:(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?|Infinity|NaN)"

/** That number, then the unit. */
const SECONDS_TEXT = new RegExp(`^(${NUMBER_PATTERN})(ms|s|m|h|d)?$`)

const SECONDS_PER_UNIT: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }

export const readSeconds = (text: string): Option.Option<number> => {
  const match = SECONDS_TEXT.exec(text)
  if (match === null) return Option.none()
  // To 15 significant digits: `9ms` is 0.009, not 0.009000000000000001, and `1.1h` 3960 (a lifetime sent as it is).
  return Option.some(Number((Number(match[1]) * (SECONDS_PER_UNIT[match[2] ?? "s"] ?? 1)).toPrecision(15)))
}
