/**
 * `npm run demo --count 4`: npm reads `--count` as its own configuration (warning "Unknown cli config") and passes on
 * only `4`; `npm run demo --count=4` passes on nothing, and the demo would run with its default. npm leaves a trace
 * of what it took, `npm_config_count` in the script's environment: a flag of the program's help found there was meant
 * for the program.
 */
/** Flags of ours that are also npm's own settings: their `npm_config_` variable may come from the user's npm configuration. */
const NPM_OWN_SETTINGS = new Set(["--json", "--version", "--help"])

/** The line saying which flag npm took and how to pass it, or null (not run by npm, or nothing of ours taken). */
export const npmTookFlag = (help: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env): string | null => {
  const script = env["npm_lifecycle_event"]
  if (script === undefined) return null
  for (const [, flag] of help.matchAll(/^ {2}(--[a-z0-9-]+)/gm)) {
    if (flag === undefined || NPM_OWN_SETTINGS.has(flag)) continue
    const taken = env[`npm_config_${flag.slice(2).replaceAll("-", "_")}`]
    if (taken === undefined) continue
    const placeholder = new RegExp(`^ {2}${flag} ([A-Z][A-Z_]*)`, "m").exec(help)?.[1]
    // `true`: given without `=`, so its value (if it takes one) went on as the first bare word.
    const value = placeholder === undefined ? "" : ` ${taken === "true" ? (args.find((arg) => !arg.startsWith("-")) ?? placeholder) : taken}`
    return `npm took ${flag} for itself, so it never reached the program: with npm run, the program's flags go after --, as in npm run ${script} -- ${flag}${value}`
  }
  return null
}
