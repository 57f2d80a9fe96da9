import { describe, expect, it } from "vitest"
import { help } from "../../src/demo/cli.js"

describe("the demo's help", () => {
  it("says that --log-level leaves its progress lines and the client's events alone: they are not log lines (newcomer 40 #1)", () => {
    const line = help.split("\n").find((text) => text.trimStart().startsWith("--log-level LEVEL"))
    expect(line).toMatch(/the least level of log line shown: .* \(the demo's progress lines and the client's events are not log lines: all shown\)$/)
  })
})
