// The command line of the long-running scripts (fuzz, soak): their options with --help, or the usage and exit 1 on
// an option they do not know, so that a typo never starts an hours-long run.
import { parseArgs } from "node:util"

/**
 * `options` (parseArgs' form, without help) and, when `allowPositionals`, the arguments that are not options, parsed
 * from the command line; `--help` prints `usage` and exits 0.
 */
export const scriptCommandLine = (options, usage, allowPositionals = false) => {
  let parsed
  try {
    parsed = parseArgs({ options: { ...options, help: { type: "boolean", short: "h", default: false } }, allowPositionals })
  } catch (error) {
    process.stderr.write(`${error.message}\n${usage}`)
    process.exit(1)
  }
  if (parsed.values.help) {
    process.stdout.write(usage)
    process.exit(0)
  }
  return parsed
}

/** `options` parsed from a command line that takes nothing else (see `scriptCommandLine`). */
export const scriptArgs = (options, usage) => scriptCommandLine(options, usage).values

/** Refuse `value` of `--flag` with the usage, exit 1. */
export const refuse = (flag, rule, value, usage) => {
  process.stderr.write(`--${flag} must be ${rule}, not ${JSON.stringify(value)}\n${usage}`)
  process.exit(1)
}
