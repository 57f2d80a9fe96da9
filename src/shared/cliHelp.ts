/**
 * Short `--help` text for our command lines, one line per flag (name, description, default), built
 * from the same definitions as the @effect/cli options so that the two cannot disagree.
 *
 * @effect/cli's own help spends five lines per flag on boilerplate ("A floating point number.",
 * "This setting is optional."), shows no defaults, and always prints ANSI styles, piped or not; the
 * programs print this text instead when `--help` or `-h` is given, before @effect/cli sees the
 * arguments.
 */
import { type Command, Options } from "@effect/cli"
import type { Option } from "effect"
import { VERSION } from "./version.js"
import { completionsRequest, completionsScript } from "./completions.js"
import { flagsPart, helpRequested, versionRequested } from "./standardFlags.js"
import { LOG_LEVELS_TEXT, logLevelAt, readLogLevel } from "./logLevelFlag.js"
import { writeSafely } from "./safeOutput.js"
import { printable } from "./printable.js"
import { SECONDS_FORMS } from "./secondsText.js"
import { npmTookFlag } from "./npmTookFlag.js"
import { helpFlags, helpLineOf } from "./helpLines.js"

export interface HelpLine {
  /** The flag as typed, with a placeholder for its value: `--port N`. */
  readonly usage: string
  readonly description: string
  /** The default as shown; null when there is none. */
  readonly fallback: string | null
}

/** An option and its help line. */
export interface Flag<A> {
  readonly option: Options.Options<A>
  readonly help: HelpLine
  /** The option as the shells' completion scripts see it, when not `option` itself (`completedFrom`). */
  readonly completion?: Options.Options<unknown>
}

interface Spec {
  readonly name: string
  /** Placeholder of the value (`N`, `SECONDS`, `URL`); none for a boolean switch. */
  readonly value?: string
  readonly description: string
}

const usage = (spec: Spec): string => (spec.value === undefined ? `--${spec.name}` : `--${spec.name} ${spec.value}`)

/** `option` with the default `fallback`, shown as `show(fallback)`. */
export const withDefault = <A>(option: Options.Options<A>, spec: Spec & { readonly fallback: A; readonly show?: (value: A) => string }): Flag<A> => ({
  option: option.pipe(Options.withDefault(spec.fallback), Options.withDescription(spec.description)),
  help: { usage: usage(spec), description: spec.description, fallback: spec.show === undefined ? String(spec.fallback) : spec.show(spec.fallback) }
})

/** `withDefault` for an option made from the flag's own name and value placeholder (`make`): each is written once. */
export const defaulted = <A>(make: (name: string, value?: string) => Options.Options<A>, spec: Spec & { readonly fallback: A; readonly show?: (value: A) => string }): Flag<A> =>
  withDefault(make(spec.name, spec.value), spec)

/** `option` made optional; `fallback` says what applies without it, when something does. */
export const optional = <A>(option: Options.Options<A>, spec: Spec & { readonly fallback?: string }): Flag<Option.Option<A>> => ({
  option: option.pipe(Options.optional, Options.withDescription(spec.description)),
  help: { usage: usage(spec), description: spec.description, fallback: spec.fallback ?? null }
})

/** `option` as given (required, or with a fallback of its own such as an environment variable). */
export const plain = <A>(option: Options.Options<A>, spec: Spec & { readonly fallback?: string }): Flag<A> => ({
  option: option.pipe(Options.withDescription(spec.description)),
  help: { usage: usage(spec), description: spec.description, fallback: spec.fallback ?? null }
})

/** A boolean switch, off unless given. */
export const toggle = (name: string, description: string): Flag<boolean> => ({
  option: Options.boolean(name).pipe(Options.withDescription(description)),
  help: { usage: `--${name}`, description, fallback: null }
})

/**
 * `flag`, its values completed in the shells' scripts as `choices`. @effect/cli lists a value's choices only for its
 * own `Options.choice` (a text flag completes file names), whose refusal names neither the flag nor the value given
 * (`Expected one of the following cases: …`): the choice is the completion script's alone, and `flag` parses as it did.
 */
export const completedFrom = <A>(flag: Flag<A>, name: string, choices: ReadonlyArray<string>): Flag<A> => ({
  ...flag,
  completion: Options.choice(name, choices).pipe(Options.optional, Options.withDescription(flag.help.description))
})

/** The options of a table of flags for the completion scripts: `optionsOf`, each flag's `completion` where it has one. */
export const completionOptionsOf = (flags: Record<string, Flag<unknown>>): Record<string, Options.Options<unknown>> =>
  Object.fromEntries(Object.entries(flags).map(([key, flag]) => [key, flag.completion ?? flag.option]))

/** The options of a table of flags, under the same keys and in the same order: what `Command.make` takes. */
export const optionsOf = <F extends Record<string, Flag<unknown>>>(flags: F): { readonly [K in keyof F]: F[K]["option"] } =>
  // `Object.fromEntries` loses the keys' types; the mapped type restores what the loop keeps.
  Object.fromEntries(Object.entries(flags).map(([key, flag]) => [key, flag.option])) as { readonly [K in keyof F]: F[K]["option"] }

/**
 * Answer `--version` (one line, `<name> <version>`, as every program prints it), `--help` (`help`) or `--completions
 * <shell>` (the script of an installed program's `command`; without one, a line saying there is none, exit 1); true
 * when one was answered and the program has nothing more to do.
 */
export const answeredStandardFlags = <Name extends string, R, E, A>(
  args: ReadonlyArray<string>,
  name: string,
  help: string,
  /** The program's whole command (its subcommands included), for `--completions`; without it, an installed command it is not. */
  command?: Command.Command<Name, R, E, A>,
  /** The program's subcommands, named when a stray word is found (`args` holds none: the one given comes off first). */
  commands: ReadonlyArray<string> = []
): boolean => {
  const completions = completionsRequest(args)
  // Safely: a reader that stops early (`--help | head -1`) must not turn the answer into an EPIPE crash.
  if (versionRequested(args)) writeSafely(process.stdout, `${name} ${VERSION}\n`)
  else if (helpRequested(args)) writeSafely(process.stdout, help)
  else if (completions !== null) {
    // A program run as `npm run …` or `node dist/….js` is no command a shell could complete (@effect/cli's script
    // would name one that does not exist).
    if (command === undefined) writeSafely(process.stderr, `${name} is not an installed command: it has no shell completions (--help lists its flags)\n`)
    else if ("shell" in completions) writeSafely(process.stdout, completionsScript(command, name, completions.shell))
    else writeSafely(process.stderr, `${completions.error}\n`)
    if (command === undefined || !("shell" in completions)) process.exitCode = 1
  } else if (flagsPart(args).includes("--wizard") && process.stdin.isTTY !== true) {
    // @effect/cli's wizard asks its questions on stdin; from a pipe or /dev/null it would wait for ever.
    writeSafely(process.stderr, "--wizard asks its questions on a terminal, and stdin is not one; --help lists the flags\n")
    process.exitCode = 1
  } else {
    const missing = npmTookFlag(help, args) ?? missingValueMessage(args, help, commands)
    if (missing === null) return false
    writeSafely(process.stderr, `${missing}\n`)
    process.exitCode = 1
  }
  return true
}

export { helpLineOf } from "./helpLines.js"

/** Flags every @effect/cli program takes besides its own (`--help` and `--version` are answered before this check). */
const BUILT_IN_FLAGS = new Set(["--wizard", "--completions", "--log-level"])
/** Those of them that take a value. */
const BUILT_IN_WITH_VALUE = new Set(["--completions", "--log-level"])
/** The values @effect/cli takes for a switch given one. */
const BOOLEAN_WORDS = new Set(["true", "1", "y", "yes", "on", "false", "0", "n", "no", "off"])

/** A flag as the user typed it, for a terminal: cut, its control characters escaped. */
const printableFlag = (name: string): string => printable(name.length > 64 ? `${name.slice(0, 64)}…` : name)

/**
 * What @effect/cli would say badly about the flags, said here naming the flag: one that takes a value (`--hold
 * SECONDS` in `help`) given last, or followed by another flag (it would call it an unknown argument, which sends the
 * user looking for a typo), and one given twice (it would call the second an unknown argument). The flags are read
 * from the lines `renderHelp` writes (`  --name VALUE  …`, the value in capitals, as every `Spec` names it), so the
 * page and the check cannot disagree. A flag the page does not list (nor @effect/cli itself) is refused as unknown, a
 * word that is no flag's value as unexpected, and anything after a `--` as not read.
 */
export const missingValueMessage = (args: ReadonlyArray<string>, help: string, commands: ReadonlyArray<string> = []): string | null => {
  const known = new Set(helpFlags(help))
  const seen = new Set<string>()
  const flags = flagsPart(args)
  for (let index = 0; index < flags.length; index++) {
    const arg = flags[index] ?? ""
    const equals = arg.indexOf("=")
    const name = equals < 0 ? arg : arg.slice(0, equals)
    // @effect/cli checks required flags first, so a typo (`--hodl`), or a level it does not know, would be reported as
    // a missing `--endpoint`.
    const logLevel = logLevelAt(flags, index)
    if (logLevel !== null) {
      const level = logLevel.text
      if (level !== undefined && level !== "" && !level.startsWith("--") && readLogLevel(level) === undefined) {
        return `--log-level takes one of ${LOG_LEVELS_TEXT}, not ${printableFlag(level)}; --help lists the flags`
      }
    }
    if (!known.has(name)) {
      if (name.startsWith("-") && name !== "-" && !BUILT_IN_FLAGS.has(name)) return `unknown flag ${printableFlag(name)}; --help lists the flags`
      if (BUILT_IN_WITH_VALUE.has(name) && equals < 0) index++
      // No program here takes a word of its own (a mistyped command, a value whose flag was lost): @effect/cli would
      // say "Received unknown argument", or report a required flag instead.
      else if (!name.startsWith("-") && name !== "") {
        const where = commands.length === 0 ? "" : ` (a command comes first: ${commands.join(" or ")})`
        return `unexpected argument ${printableFlag(arg)}${where}; --help lists the flags`
      }
      continue
    }
    if (seen.has(name)) return `${name} given more than once; --help lists the flags`
    seen.add(name)
    const value = helpLineOf(help, name)?.value ?? null
    if (value === null) {
      // A switch may be given its value, as @effect/cli reads it (`--recommended true`).
      if (equals < 0 && BOOLEAN_WORDS.has((flags[index + 1] ?? "").toLowerCase())) index++
      continue
    }
    const next = flags[index + 1]
    // `--hold=` gives the flag an empty value: as missing as a flag given last.
    if (equals === arg.length - 1 || (equals < 0 && (next === undefined || next.startsWith("--")))) return `${name} needs a value (${value}); --help lists the flags`
    if (equals < 0) index++
  }
  // @effect/cli takes what follows a `--` as arguments, which none of these programs has ("Received unknown argument").
  const afterEnd = args.slice(flags.length + 1)
  if (afterEnd.length > 0) {
    return `nothing after -- is read, and ${printableFlag(afterEnd[0] ?? "")} follows it: every flag goes before a -- (npm run takes one, the program none); --help lists the flags`
  }
  return null
}

/** The help text: usage lines, a summary, then one line per flag, in the order given. */
export const renderHelp = (page: {
  readonly usage: ReadonlyArray<string>
  readonly summary: ReadonlyArray<string>
  readonly flags: ReadonlyArray<HelpLine>
  readonly notes?: ReadonlyArray<string>
  /** An installed command (a bin in package.json): `--completions` makes a script for it. */
  readonly completions?: boolean
  /** What of the program's output `--log-level` leaves alone (its progress lines are not log lines). */
  readonly notLogLines?: string
}): string => {
  // @effect/cli's own flags, which every one of these programs takes as well.
  const builtIn: ReadonlyArray<HelpLine> = [
    ...(page.completions === true ? [{ usage: "--completions SHELL", description: "print a completion script: bash, zsh, fish or sh", fallback: null }] : []),
    { usage: "--wizard", description: "ask for each flag in turn (on a terminal)", fallback: null },
    {
      usage: "--log-level LEVEL",
      description: `the least level of log line shown: ${LOG_LEVELS_TEXT}${page.notLogLines === undefined ? "" : ` (${page.notLogLines} are not log lines: all shown)`}`,
      fallback: null
    }
  ]
  const flags = [
    ...page.flags,
    ...builtIn,
    { usage: "-h, --help", description: "this help", fallback: null },
    { usage: "--version", description: "the version", fallback: null }
  ]
  const width = Math.max(...flags.map((flag) => flag.usage.length))
  const secondsNote = page.flags.some((flag) => flag.usage.endsWith(" SECONDS")) ? [`SECONDS is ${SECONDS_FORMS}.`] : []
  const notes = [...secondsNote, ...(page.notes ?? [])]
  const lines = [
    ...page.usage.map((line, index) => `${index === 0 ? "Usage:" : "      "} ${line}`),
    "",
    ...page.summary,
    "",
    "Options:",
    ...flags.map(
      (flag) => `  ${flag.usage.padEnd(width)}  ${flag.description}${flag.fallback === null ? "" : ` (default ${flag.fallback})`}`
    ),
    ...(notes.length === 0 ? [] : ["", ...notes])
  ]
  return `${lines.join("\n")}\n`
}
