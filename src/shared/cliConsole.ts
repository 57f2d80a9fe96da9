/**
 * `@effect/cli` prints a refused argument as a help text that ends in a newline, through `Console.error`, which adds
 * one more: every refusal was followed by an empty line. The command lines run with a console whose `error` drops a
 * string argument's last newline, so a refusal is one line, as every other failure they print. A required flag that
 * is missing is said with its line of the program's help page, which says what it is and what may stand in for it.
 */
import { Console, Effect } from "effect"
import { helpLineOf } from "./cliHelp.js"

/** How `@effect/cli` says that a required flag is missing. */
const MISSING_FLAG = /^Expected to find option: '(--[a-z0-9-]+)'$/

/** `--endpoint NAME is required (the Serverless endpoint's name; required unless VAST_ENDPOINT is set)`. */
const missingFlagLine = (flag: string, help: string): string => {
  const line = helpLineOf(help, flag)
  return line === null ? `${flag} is required; --help lists the flags` : `${flag}${line.value === null ? "" : ` ${line.value}`} is required (${line.description})`
}

const reworded = (arg: unknown, help: string): unknown => {
  if (typeof arg !== "string") return arg
  const text = arg.endsWith("\n") ? arg.slice(0, -1) : arg
  const missing = MISSING_FLAG.exec(text)
  return missing === null ? text : missingFlagLine(missing[1]!, help)
}

/**
 * `effect` with `Console.error` dropping the last newline of each string it is given, and saying a missing required
 * flag with its line of `help` (the program's help page).
 */
export const withOneLineErrors = <A, E, R>(effect: Effect.Effect<A, E, R>, help: string): Effect.Effect<A, E, R> =>
  Console.consoleWith((console) =>
    Console.withConsole(effect, { ...console, error: (...args: ReadonlyArray<unknown>) => console.error(...args.map((arg) => reworded(arg, help))) })
  )
