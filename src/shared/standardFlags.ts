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
