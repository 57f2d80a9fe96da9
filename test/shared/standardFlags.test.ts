import { describe, expect, it } from "vitest"
import { logLevelFirst } from "../../src/shared/standardFlags.js"

describe("logLevelFirst", () => {
  it("moves --log-level and its level first among the arguments, wherever it is given, in either form", () => {
    expect(logLevelFirst(["node", "s.js", "--port", "0", "--log-level", "warning"])).toEqual(["node", "s.js", "--log-level", "warning", "--port", "0"])
    expect(logLevelFirst(["node", "s.js", "--port", "0", "--log-level=error", "--x"])).toEqual(["node", "s.js", "--log-level", "error", "--port", "0", "--x"])
    expect(logLevelFirst(["node", "s.js", "--log-level", "info", "--port", "0"])).toEqual(["node", "s.js", "--log-level", "info", "--port", "0"])
  })

  it("leaves the arguments as they are without it, with no level after it, or when it comes after a --", () => {
    const cases = [
      ["node", "s.js", "--port", "0"],
      ["node", "s.js", "--port", "0", "--log-level"],
      ["node", "s.js", "--", "--log-level", "info"],
      ["node", "s.js", "--log-level", "--", "info"],
      ["node", "s.js", "--port", "0", "--log-level", "--json"]
    ]
    for (const argv of cases) expect(logLevelFirst(argv)).toEqual(argv)
  })
})
