import { describe, expect, it } from "vitest"
import { npmTookFlag } from "../../src/shared/npmTookFlag.js"

const help = `Usage: demo

Options:
  --count N         sessions
  --vast-defaults   Vast's settings
  --json            one JSON object per event
`

describe("npmTookFlag", () => {
  it("names a flag of the program that npm took for itself, with the command that passes it on", () => {
    const run = { npm_lifecycle_event: "demo" }
    // `npm run demo --count 4`: npm keeps --count (as true) and passes 4 on.
    expect(npmTookFlag(help, ["4"], { ...run, npm_config_count: "true" })).toBe(
      "npm took --count for itself, so it never reached the program: with npm run, the program's flags go after --, as in npm run demo -- --count 4"
    )
    // `npm run demo --count=4`: nothing is passed on.
    expect(npmTookFlag(help, [], { ...run, npm_config_count: "4" })).toMatch(/as in npm run demo -- --count 4$/)
    expect(npmTookFlag(help, [], { ...run, npm_config_count: "true" })).toMatch(/as in npm run demo -- --count N$/)
    expect(npmTookFlag(help, [], { ...run, npm_config_vast_defaults: "true" })).toMatch(/as in npm run demo -- --vast-defaults$/)
    // Several: each named, none dropped; the bare words' order is not known, so a value given apart is its placeholder
    // (review 58 L3, newcomer 36 #5).
    expect(npmTookFlag(help, ["5"], { ...run, npm_config_count: "true", npm_config_vast_defaults: "true" })).toBe(
      "npm took --count, --vast-defaults for itself, so they never reached the program: with npm run, the program's flags go after --, as in npm run demo -- --count N --vast-defaults"
    )
  })

  it("says nothing when not run by npm, when npm took nothing of ours, or for a flag that is also npm's own setting", () => {
    expect(npmTookFlag(help, [], { npm_config_count: "4" })).toBeNull()
    // `npm exec`/npx passes flags on.
    expect(npmTookFlag(help, [], { npm_lifecycle_event: "npx", npm_config_count: "4" })).toBeNull()
    expect(npmTookFlag(help, [], { npm_lifecycle_event: "demo", npm_config_cache: "/root/.npm", npm_config_yes: "" })).toBeNull()
    // `json=true` in the user's .npmrc reaches every script.
    expect(npmTookFlag(help, [], { npm_lifecycle_event: "client", npm_config_json: "true" })).toBeNull()
  })
})
