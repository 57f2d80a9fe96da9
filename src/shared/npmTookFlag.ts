/**
 * `npm run demo --count 4`: npm reads `--count` as its own configuration (warning "Unknown cli config") and passes on
 * only `4`; `npm run demo --count=4` passes on nothing, and the demo would run with its default. npm leaves a trace
 * of what it took, `npm_config_count` in the script's environment: a flag of the program's help found there was meant
 * for the program.
 */
import { helpFlags, helpLineOf } from "./helpLines.js"

/** Flags of ours that are also npm's own settings: their `npm_config_` variable may come from the user's npm configuration. */
const NPM_OWN_SETTINGS = new Set(["--json", "--version", "--help"])

/** The line saying which flags npm took and how to pass them, or null (not run by npm, or nothing of ours taken). */
export const npmTookFlag = (help: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env): string | null => {
  const script = env["npm_lifecycle_event"]
  // `npm exec` (npx) passes every flag on: nothing of ours is taken there.
  if (script === undefined || script === "npx") return null
  const taken: Array<{ readonly flag: string; readonly value: string; readonly placeholder: string | undefined }> = []
  for (const flag of helpFlags(help)) {
    if (NPM_OWN_SETTINGS.has(flag)) continue
    const value = env[`npm_config_${flag.slice(2).replaceAll("-", "_")}`]
    if (value === undefined) continue
    taken.push({ flag, value, placeholder: helpLineOf(help, flag)?.value ?? undefined })
  }
  if (taken.length === 0) return null
  // `true`: given without `=`, so its value (if it takes one) went on as a bare word; which one is known only when one
  // flag was taken.
  const bare = taken.length === 1 ? args.find((arg) => !arg.startsWith("-")) : undefined
  const flags = taken.map(({ flag, placeholder, value }) =>
    placeholder === undefined ? flag : `${flag} ${value === "true" ? (bare ?? placeholder) : value}`
  )
  const names = taken.map(({ flag }) => flag).join(", ")
  return `npm took ${names} for itself, so ${taken.length === 1 ? "it" : "they"} never reached the program: with npm run, the program's flags go after --, as in npm run ${script} -- ${flags.join(" ")}`
}
