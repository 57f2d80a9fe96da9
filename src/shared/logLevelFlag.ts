/**
 * `--log-level LEVEL`, taken here rather than by @effect/cli: the library reads its own flags only before the program's,
 * and, given one, prints a flag error twice (it runs the command again inside its own handling, and both print).
 */
import { type Effect, LogLevel, Logger, Option } from "effect"
import { flagsPart } from "./standardFlags.js"

/** Effect's log levels, least first, each by its name in lower case: what `--log-level` takes. */
const LEVELS: ReadonlyArray<LogLevel.LogLevel> = [...LogLevel.allLevels].sort((a, b) => a.ordinal - b.ordinal)

/** `--log-level`'s values, in order (`all` … `none`), for the help line and the flag check. */
export const LOG_LEVELS: ReadonlyArray<string> = LEVELS.map((level) => level._tag.toLowerCase())

/** `argv` (`[node, script, ...args]`) without `--log-level LEVEL` (or `=LEVEL`), and the level, if one was given. */
export const takeLogLevel = (argv: ReadonlyArray<string>): { readonly argv: ReadonlyArray<string>; readonly level: Option.Option<LogLevel.LogLevel> } => {
  const [node = "node", script = "", ...args] = argv
  const flags = flagsPart(args)
  for (let index = 0; index < flags.length; index++) {
    const arg = flags[index] ?? ""
    const taken = arg === "--log-level" ? 2 : arg.startsWith("--log-level=") ? 1 : 0
    if (taken === 0) continue
    const text = taken === 2 ? flags[index + 1] : arg.slice("--log-level=".length)
    const level = LEVELS[text === undefined ? -1 : LOG_LEVELS.indexOf(text)]
    // Not a level (checked and named before this runs): left in place.
    if (level === undefined) return { argv, level: Option.none() }
    return { argv: [node, script, ...args.slice(0, index), ...args.slice(index + taken)], level: Option.some(level) }
  }
  return { argv, level: Option.none() }
}

/** Run `cli` on `argv` without its `--log-level`, at the level it gave. */
export const runWithLogLevel = <A, E, R>(cli: (argv: ReadonlyArray<string>) => Effect.Effect<A, E, R>, argv: ReadonlyArray<string>): Effect.Effect<A, E, R> => {
  const taken = takeLogLevel(argv)
  const run = cli(taken.argv)
  return Option.isSome(taken.level) ? Logger.withMinimumLogLevel(run, taken.level.value) : run
}
