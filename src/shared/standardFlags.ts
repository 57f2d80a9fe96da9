/**
 * `--help` and `--version` as every program reads them, with no dependency: the worker's start-up (which does not
 * load `@effect/cli`) and the programs with a flag table (`cliHelp.ts`) share this one reading.
 */

/** The arguments before a `--` (after it, `--help` is a value). */
export const flagsPart = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const end = args.indexOf("--")
  return end === -1 ? args : args.slice(0, end)
}

/** Whether the arguments ask for help (`--help` or `-h` anywhere before a `--`). */
export const helpRequested = (args: ReadonlyArray<string>): boolean => flagsPart(args).includes("--help") || flagsPart(args).includes("-h")

/** Whether the arguments ask for the version (`--version` before a `--`). */
export const versionRequested = (args: ReadonlyArray<string>): boolean => flagsPart(args).includes("--version")

/** `--log-level`'s values, as @effect/cli takes them (Effect's log levels, in lower case). */
export const LOG_LEVELS: ReadonlyArray<string> = ["all", "trace", "debug", "info", "warning", "error", "fatal", "none"]

/**
 * `argv` (`[node, script, ...args]`) with `--log-level LEVEL` (or `--log-level=LEVEL`) moved first among the arguments:
 * @effect/cli reads its own flags only before the program's, and calls one anywhere else an unknown argument.
 */
export const logLevelFirst = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const [node = "node", script = "", ...args] = argv
  const flags = flagsPart(args)
  for (let index = 0; index < flags.length; index++) {
    const arg = flags[index] ?? ""
    const taken = arg === "--log-level" ? 2 : arg.startsWith("--log-level=") ? 1 : 0
    if (taken === 0) continue
    const level = taken === 2 ? flags[index + 1] : arg.slice("--log-level=".length)
    // No level (another flag follows, or nothing): left where it is, for the flag checks to name.
    if (level === undefined || level.startsWith("--")) return argv
    return [node, script, "--log-level", level, ...args.slice(0, index), ...args.slice(index + taken)]
  }
  return argv
}
