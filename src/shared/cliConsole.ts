/**
 * `@effect/cli` prints a refused argument as a help text that ends in a newline, through `Console.error`, which adds
 * one more: every refusal was followed by an empty line. The command lines run with a console whose `error` drops a
 * string argument's last newline, so a refusal is one line, as every other failure they print.
 */
import { Console, Effect } from "effect"

const withoutLastNewline = (arg: unknown): unknown => (typeof arg === "string" && arg.endsWith("\n") ? arg.slice(0, -1) : arg)

/** `effect` with `Console.error` dropping the last newline of each string it is given. */
export const withOneLineErrors = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((console) =>
    Console.withConsole(effect, { ...console, error: (...args: ReadonlyArray<unknown>) => console.error(...args.map(withoutLastNewline)) })
  )
