/**
 * The command line of a program configured by environment variables only (the worker, the example consumers,
 * `reserve-one`): it answers `--help` and `--version`, and refuses every other argument. Ignoring one would run the
 * program when the user asked for something else: `--hepl` would start a worker, and `reserve-one --help` would
 * reserve a real one. No `@effect/cli` here: the worker's start-up does not load it.
 */
import { helpRequested, versionRequested } from "./standardFlags.js"
import { VERSION } from "./version.js"

/**
 * True when the program must not run: its help or version was printed (exit status 0), or an argument was refused
 * (a line on stderr, exit status 1). `help` ends with a newline.
 */
export const handledEnvProgramArgs = (args: ReadonlyArray<string>, name: string, help: string): boolean => {
  if (versionRequested(args)) {
    process.stdout.write(`${name} ${VERSION}\n`)
    return true
  }
  if (helpRequested(args)) {
    process.stdout.write(help)
    return true
  }
  const first = args[0]
  if (first === undefined) return false
  process.stderr.write(`${name}: unknown argument ${JSON.stringify(first)}: it takes its settings from the environment (--help lists them)\n`)
  process.exitCode = 1
  return true
}
