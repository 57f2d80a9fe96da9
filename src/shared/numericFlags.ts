/**
 * The numeric options of the command lines (client, autoscale daemon, local serverless, demo). `Options.float`
 * takes `Infinity` and `1e400`, which JSON cannot carry (`JSON.stringify(Infinity)` is `null`, so a worker would apply its default), so every one is
 * checked finite here; lifetime and cost are held to the bounds a worker enforces (src/protocol), so a value the
 * worker would refuse is refused before any session is made.
 */
import { Options } from "@effect/cli"
import { Schema } from "effect"
import { MAX_COST } from "../protocol/authData.js"
import { MAX_LIFETIME_SECONDS } from "../protocol/session.js"

const bounded = (name: string, holds: (n: number) => boolean, rule: string) =>
  Options.float(name).pipe(
    Options.withSchema(Schema.Number.pipe(Schema.filter((n) => Number.isFinite(n) && holds(n), { message: () => `--${name} must be ${rule}` })))
  )

/** Any finite number (a sign has a meaning of its own, e.g. an inactivity timeout `<= 0`: never). */
export const finite = (name: string) => bounded(name, () => true, "a finite number")

/** A finite number above 0 (a duration, a divisor). */
export const above0 = (name: string) => bounded(name, (n) => n > 0, "a finite number above 0")

/** A finite number, 0 or more. */
export const from0 = (name: string) => bounded(name, (n) => n >= 0, "a finite number, 0 or more")

/** A session lifetime, as `/session/create` takes it. */
export const lifetimeSeconds = (name: string) =>
  bounded(name, (n) => n > 0 && n <= MAX_LIFETIME_SECONDS, `a number of seconds above 0 and at most ${MAX_LIFETIME_SECONDS} (the worker's limit)`)

/** A session's cost, as `/route/` and `auth_data` take it; 0 is refused as before (a session that counts as no load). */
export const sessionCost = (name: string) =>
  bounded(name, (n) => n > 0 && n <= MAX_COST, `a number above 0 and at most ${MAX_COST} (the worker's limit)`)
