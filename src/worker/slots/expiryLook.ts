/**
 * How long a slot's expiry timer sleeps before it reads the clock again: half the time left, at least 5 s (or what is
 * left), at most `EXPIRY_RECHECK_MS`. A deadline is a moment of the wall clock, and one sleep measured before a step of
 * it (NTP after a resumed VM, an operator) freed the slot an hour late for a step back of an hour put right, never for
 * one past 2^31 − 1 ms (the timer's limit), and not before the old moment for a step forward (probe 52 M1). So a step is
 * seen within 10 minutes, and within 5 s near the deadline (the Python worker's collector looks every 5 s), and a
 * week-long session's timer looks about a thousand times, not a hundred thousand.
 */
import { Context } from "effect"

export const EXPIRY_RECHECK_MS = 10 * 60_000

/**
 * The longest look, `EXPIRY_RECHECK_MS`. A test that spans weeks of the `TestClock` may take a longer one (under 24.8
 * days): each look is a step of that clock, which lets the test's other fibers run with a real timer between steps, and
 * the 4,320 looks of 30 days took 10–16 s.
 */
export class ExpiryRecheck extends Context.Reference<ExpiryRecheck>()("worker/ExpiryRecheck", { defaultValue: () => EXPIRY_RECHECK_MS }) {}

export const expiryLook = (wait: number, recheck: number): number => Math.min(wait, Math.max(5_000, Math.min(wait / 2, recheck)))
