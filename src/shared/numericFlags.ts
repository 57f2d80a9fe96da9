/**
 * The numeric options of the command lines (client, autoscale daemon, local serverless, demo). A number may be
 * `Infinity` or `1e400`, which JSON cannot carry (`JSON.stringify(Infinity)` is `null`, so a worker would apply its default), so every one is
 * checked finite here; lifetime and cost are held to the bounds a worker enforces (src/protocol), so a value the
 * worker would refuse is refused before any session is made. A flag whose value is `SECONDS` (its help's placeholder)
 * also takes a unit (`10m`, `secondsText.ts`): every factory takes that placeholder as its second argument.
 */
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Effect, Option, Schema } from "effect"
import { MAX_COST } from "../protocol/authData.js"
import { MAX_LIFETIME_SECONDS } from "../protocol/session.js"
import { NUMBER_PATTERN, readSeconds, SECONDS_FORMS } from "./secondsText.js"

const parseNumber = Schema.decodeUnknownOption(Schema.NumberFromString)

const NUMBER_TEXT = new RegExp(`^${NUMBER_PATTERN}$`)

/**
 * `--name` read as text and taken as a number when `problem` finds nothing wrong with it. `Options.float` and
 * `Options.integer` say "'abc' is not a float", naming no flag, and a schema's failure prints its tree; here the
 * one line of every refusal starts with the flag.
 */
const numeric = (name: string, problem: (n: number, text: string) => string | null, value: string | undefined) =>
  Options.text(name).pipe(
    // Named as the help names it: the wizard had asked for "--count text" (newcomer 41 #6, 40 #5).
    Options.withPseudoName(value ?? "NUMBER"),
    Options.mapEffect((text) => {
      const inSeconds = value === "SECONDS"
      const parsed = inSeconds ? readSeconds(text) : NUMBER_TEXT.test(text) ? parseNumber(text) : Option.none()
      const found = Option.isNone(parsed)
        ? `--${name} must be ${inSeconds ? SECONDS_FORMS : "a number"}`
        : (problem(parsed.value, text) ?? (inSeconds && parsed.value > MAX_TIMER_SECONDS ? tooLongToWait(name) : null))
      return found === null ? Effect.succeed(Option.getOrThrow(parsed)) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(found)))
    })
  )

/** A rule's bounds are seconds when the value is (`--interval 0.001`: "at least 0.01" of what?), whichever unit was typed. */
const SECONDS_RULE = "; seconds, or with a unit (250ms, 90s, 10m)"

const bounded = (name: string, value: string | undefined, holds: (n: number) => boolean, rule: string) =>
  numeric(name, (n) => (Number.isFinite(n) && holds(n) ? null : `--${name} must be ${rule}${value === "SECONDS" ? SECONDS_RULE : ""}`), value)

/** Digits only, as the worker reads its whole-number settings: `1e3` and `80.0` are numbers, not how a count or a port is written. */
const DIGITS = /^[0-9]+$/

/** A whole number from `min` (0 or more) to `max` (a count, a port), in decimal digits. */
export const wholeAtLeast = (min: number, max: number = Number.MAX_SAFE_INTEGER) => (name: string) =>
  numeric(name, (n, text) => {
    const inRange = Number.isSafeInteger(n) && n >= min && n <= max
    if (inRange && DIGITS.test(text)) return null
    return `--${name} must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}${inRange ? ", in decimal digits" : ""}`
  }, "N")

/** Any finite number (a sign has a meaning of its own, e.g. an inactivity timeout `<= 0`: never). */
export const finite = (name: string, value?: string) => bounded(name, value, () => true, "a finite number")

/** A finite number above 0 (a duration, a divisor). */
export const above0 = (name: string, value?: string) => bounded(name, value, (n) => n > 0, "a finite number above 0")

/** A finite number of at least `min` (a period a loop waits: smaller would spin). */
export const atLeast = (min: number) => (name: string, value?: string) => bounded(name, value, (n) => n >= min, `a finite number of at least ${min}`)

/** A fraction above 0, at most 1 (a share of capacity). */
export const fraction = (name: string, value?: string) => bounded(name, value, (n) => n > 0 && n <= 1, "a fraction above 0, at most 1")

/** A finite number, 0 or more. */
export const from0 = (name: string, value?: string) => bounded(name, value, (n) => n >= 0, "a finite number, 0 or more")

/** A session lifetime, as `/session/create` takes it. */
export const lifetimeSeconds = (name: string, value?: string) =>
  bounded(name, value, (n) => n > 0 && n <= MAX_LIFETIME_SECONDS, `a number above 0 and at most ${MAX_LIFETIME_SECONDS} (the worker's limit)`)

/** A session's cost, as `/route/` and `auth_data` take it; 0 is refused as before (a session that counts as no load). */
export const sessionCost = (name: string, value?: string) =>
  bounded(name, value, (n) => n > 0 && n <= MAX_COST, `a number above 0 and at most ${MAX_COST} (the worker's limit; a session of cost 0 would add no load, so nothing would keep its worker)`)

/**
 * The longest wait a flag may ask for: Effect's live clock cannot set a timer past 2^31 − 1 ms, and takes such a sleep
 * as one that never ends (a hold that never ends holds its worker for ever).
 */
export const MAX_TIMER_SECONDS = 2_147_483

const tooLongToWait = (name: string) => `--${name} must be at most ${MAX_TIMER_SECONDS} seconds (about 24.8 days: a longer wait would never end)`

/**
 * `option` (seconds), refused past `MAX_TIMER_SECONDS` in one line naming the flag, as its other rules are. Every flag
 * whose value is `SECONDS` is held to it already (review 58 L4: `--interval 30d` was taken by the daemon).
 */
export const waitable = (name: string, option: Options.Options<number>): Options.Options<number> =>
  option.pipe(
    Options.mapEffect((value) => (value <= MAX_TIMER_SECONDS ? Effect.succeed(value) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(tooLongToWait(name))))))
  )
