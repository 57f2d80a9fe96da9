import { describe, expect, it } from "vitest"
import { sidecarExitReason } from "../../src/serverless/sidecarExitReason.js"

describe("sidecarExitReason", () => {
  it("a Node crash: the error line, not Node's version banner nor the error's closing brace", () => {
    const tail = [
      "node:internal/modules/cjs/loader:1148",
      "  throw err;",
      "  ^",
      "",
      "Error: Cannot find module '/srv/consumer.js'",
      "    at Module._resolveFilename (node:internal/modules/cjs/loader:1145:15)",
      "  code: 'MODULE_NOT_FOUND',",
      "  requireStack: []",
      "}",
      "",
      "Node.js v20.20.2"
    ]
    expect(sidecarExitReason(tail)).toBe("Error: Cannot find module '/srv/consumer.js'")
  })

  it("a Python traceback: its last line, the exception; the last of several error lines", () => {
    expect(sidecarExitReason(["Traceback (most recent call last):", '  File "c.py", line 1, in <module>', "ModuleNotFoundError: No module named 'redis'"])).toBe(
      "ModuleNotFoundError: No module named 'redis'"
    )
    expect(sidecarExitReason(["TypeError: first: x", "redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379"])).toBe(
      "redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379"
    )
  })

  it("no error line: the last line that is not blank nor the banner; nothing printed: none", () => {
    expect(sidecarExitReason(["starting", "Killed", "  "])).toBe("Killed")
    expect(sidecarExitReason(["consumer: redis unreachable, giving up", "", "Node.js v22.1.0"])).toBe("consumer: redis unreachable, giving up")
    expect(sidecarExitReason(["", "Node.js v20.20.2"])).toBeUndefined()
    expect(sidecarExitReason([])).toBeUndefined()
  })
})
