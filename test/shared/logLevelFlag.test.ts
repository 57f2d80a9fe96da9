import { LogLevel, Option } from "effect"
import { describe, expect, it } from "vitest"
import { takeLogLevel } from "../../src/shared/logLevelFlag.js"

describe("takeLogLevel", () => {
  it("takes --log-level and its level out of the arguments, wherever it is given, in either form", () => {
    expect(takeLogLevel(["node", "s.js", "--port", "0", "--log-level", "warning"])).toEqual({ argv: ["node", "s.js", "--port", "0"], level: Option.some(LogLevel.Warning) })
    expect(takeLogLevel(["node", "s.js", "--port", "0", "--log-level=none", "--x"])).toEqual({ argv: ["node", "s.js", "--port", "0", "--x"], level: Option.some(LogLevel.None) })
    expect(takeLogLevel(["node", "s.js", "--log-level", "all"])).toEqual({ argv: ["node", "s.js"], level: Option.some(LogLevel.All) })
  })

  it("reads a level as the worker reads LOG_LEVEL: in any case, and warn for warning (newcomer 37 #3)", () => {
    for (const [given, level] of [["warn", LogLevel.Warning], ["Warning", LogLevel.Warning], ["WARN", LogLevel.Warning], ["Info", LogLevel.Info], ["NONE", LogLevel.None]] as const) {
      expect(takeLogLevel(["node", "s.js", "--log-level", given, "--port", "0"]), given).toEqual({ argv: ["node", "s.js", "--port", "0"], level: Option.some(level) })
      expect(takeLogLevel(["node", "s.js", `--log-level=${given}`]), given).toEqual({ argv: ["node", "s.js"], level: Option.some(level) })
    }
  })

  it("leaves the arguments as they are without it, without a level it knows, or when it comes after a --", () => {
    const cases = [
      ["node", "s.js", "--port", "0"],
      ["node", "s.js", "--port", "0", "--log-level"],
      ["node", "s.js", "--", "--log-level", "info"],
      ["node", "s.js", "--log-level", "--", "info"],
      ["node", "s.js", "--port", "0", "--log-level", "--json"],
      ["node", "s.js", "--log-level", "loud"],
      ["node", "s.js", "--log-level", "warnings"],
      ["node", "s.js", "--log-level=wa"]
    ]
    for (const argv of cases) expect(takeLogLevel(argv)).toEqual({ argv, level: Option.none() })
  })
})
