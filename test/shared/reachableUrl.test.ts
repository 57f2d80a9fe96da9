import { describe, expect, it } from "vitest"
import { reachableUrl } from "../../src/shared/reachableUrl.js"

describe("reachableUrl", () => {
  it.each([
    ["127.0.0.2", "http://127.0.0.2:8080"],
    ["192.0.2.2", "http://192.0.2.2:8080"],
    ["0.0.0.0", "http://127.0.0.1:8080"],
    ["::", "http://[::1]:8080"],
    ["::1", "http://[::1]:8080"],
    ["fe80::1", "http://[fe80::1]:8080"],
    ["localhost", "http://localhost:8080"]
  ])("a server bound to %s is reached at %s", (hostname, url) => {
    expect(reachableUrl(hostname, 8080)).toBe(url)
  })
})
