/**
 * `--log-level LEVEL`, taken here rather than by @effect/cli: the library reads its own flags only before the program's,
 * and, given one, prints a flag error twice (it runs the command again inside its own handling, and both print).
 */
import { type Effect, LogLevel, Logger, Option, Schema } from "effect"
import { flagsPart } from "./standardFlags.js"
import { LogLevelName, toLogLevel } from "./logging.js"

/** Effect's log levels, least first. */
const LEVELS: ReadonlyArray<LogLevel.LogLevel> = [...LogLevel.allLevels].sort((a, b) => a.ordinal - b.ordinal)

/** `--log-level`'s values, in order (`all` … `none`), each by its name in lower case. */
export const LOG_LEVELS: ReadonlyArray<string> = LEVELS.map((level) => level._tag.toLowerCase())

/** What `--log-level` takes, for the help line and its refusal: the worker's `LOG_LEVEL` words (newcomer 37 #3). */
export const LOG_LEVELS_TEXT = `${LOG_LEVELS.join(", ").replace("warning", "warning (or warn)")} (in any case)`

/**
 * The level `text` names, read as the worker reads `LOG_LEVEL` (`LogLevelName`: any case, `warn` for `warning`), so
 * that `LOG_LEVEL=Warning` and `--log-level Warning` are the same; undefined when it names none.
 */
export const readLogLevel = (text: string): LogLevel.LogLevel | undefined =>
  Option.getOrUndefined(Option.map(Schema.decodeUnknownOption(LogLevelName)(text), toLogLevel))

/**
 * The `--log-level` at `flags[index]`, if that is one: its value as given (`--log-level LEVEL` or `--log-level=LEVEL`;
 * undefined when none follows) and how many arguments it spans.
 */
export const logLevelAt = (flags: ReadonlyArray<string>, index: number): { readonly text: string | undefined; readonly spans: 1 | 2 } | null => {
  const arg = flags[index] ?? ""
  if (arg === "--log-level") return { text: flags[index + 1], spans: 2 }
  return arg.startsWith("--log-level=") ? { text: arg.slice("--log-level=".length), spans: 1 } : null
}

/** `argv` (`[node, script, ...args]`) without `--log-level LEVEL` (or `=LEVEL`), and the level, if one was given. */
export const takeLogLevel = (argv: ReadonlyArray<string>): { readonly argv: ReadonlyArray<string>; readonly level: Option.Option<LogLevel.LogLevel> } => {
  const [node = "node", script = "", ...args] = argv
  const flags = flagsPart(args)
  for (let index = 0; index < flags.length; index++) {
    const given = logLevelAt(flags, index)
    if (given === null) continue
    const { spans: taken, text } = given
    const level = text === undefined ? undefined : readLogLevel(text)
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
