/**
 * Numbers written by people (environment variables, query strings), read in decimal only: `Number` alone would also
 * take `0x10`, `0b1` and `Infinity`, and a variable's value would then name another
 * variable or bind another port than the one meant.
 */

/** Decimal digits, nothing else: a whole number with no sign. */
export const DECIMAL_DIGITS = /^[0-9]+$/

/** Decimal digits with an optional fraction (`2`, `2.5`). */
export const DECIMAL_FRACTION = /^[0-9]+(\.[0-9]+)?$/

/** A decimal number as a person writes one: a sign, a fraction and an exponent allowed (`-1`, `.5`, `1e1`). */
export const DECIMAL_NUMBER = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/
