import { HelpDoc, Options, Usage } from "@effect/cli"
import { describe, expect, it } from "vitest"
import { above0, atLeast, wholeAtLeast } from "../../src/shared/numericFlags.js"

/** The usage @effect/cli shows for an option (the wizard's question, its own help): `--count N`. */
const usageOf = (options: Options.Options<unknown>) => HelpDoc.toAnsiText(Usage.getHelp(Options.getUsage(options))).trim()

describe("numeric flags", () => {
  it("are named by their placeholder, as the help names them, not as `text` (the wizard asked for `--count text`: newcomer 41 #6)", () => {
    expect(usageOf(wholeAtLeast(1, 100)("count"))).toBe("--count N")
    expect(usageOf(atLeast(0.01)("interval", "SECONDS"))).toBe("--interval SECONDS")
    expect(usageOf(above0("target-util"))).toBe("--target-util NUMBER")
  })
})
