/**
 * Numbers and texts from environment variables as people write them, read strictly: decimal only, and a variable set but
 * empty said as such rather than read as 0. The worker's settings and the example consumers read them alike.
 */
import { Config, ConfigError, Either } from "effect"
import { DECIMAL_DIGITS, DECIMAL_NUMBER } from "./decimalText.js"

export const SET_BUT_EMPTY = "is set but empty: give it a value (or unset it, where it has a default)"

/**
 * `read()`, unless the variable is set but empty (or blank): then it says so, whatever the variable (an empty field
 * in a template, which a user may have meant as unset). Used inside the one `mapOrFail` of a variable: an error from a
 * second one would lose the variable's name.
 */
export const unlessEmpty = <A>(text: string, read: () => Either.Either<A, ConfigError.ConfigError>): Either.Either<A, ConfigError.ConfigError> =>
  text.trim() === "" ? Either.left(ConfigError.InvalidData([], SET_BUT_EMPTY)) : read()

/** A variable's text that `holds`, else `message`. */
export const checkedText = (name: string, message: string, holds: (text: string) => boolean) =>
  Config.string(name).pipe(
    Config.mapOrFail((text) => unlessEmpty(text, () => (holds(text) ? Either.right(text) : Either.left(ConfigError.InvalidData([], message)))))
  )

/**
 * A whole number written in decimal digits only (no sign, no `_`: stricter than Python's `int()`). `Config.integer`
 * would also take `0x10` and `1e3`, and a `WORKER_PORT=0x10` then asks for `VAST_TCP_PORT_16`, a variable the user
 * never meant. A variable set but empty is refused too (it was 0). `message` says the rule (the digits and the range).
 */
export const decimalInteger = (name: string, message: string, holds: (n: number) => boolean = () => true) =>
  checkedText(name, message, (text) => DECIMAL_DIGITS.test(text.trim()) && Number.isSafeInteger(Number(text)) && holds(Number(text))).pipe(Config.map(Number))

/** A finite decimal number, with a fraction or an exponent if need be (`2.5`, `1e1`); not `0x10`, `Infinity` or empty. */
export const decimalNumber = (name: string, message: string, holds: (n: number) => boolean) =>
  checkedText(name, message, (text) => DECIMAL_NUMBER.test(text.trim()) && Number.isFinite(Number(text)) && holds(Number(text))).pipe(Config.map(Number))

export const port = (name: string) => decimalInteger(name, "must be a port number from 1 to 65535", (p) => p >= 1 && p <= 65535)

