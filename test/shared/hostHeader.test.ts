import { describe, expect, it } from "vitest"
import { headersForHostCheck } from "../../src/shared/hostHeader.js"

describe("the host a request is for", () => {
  const headers = { host: "127.0.0.1:1", origin: undefined }

  it("is Host's for a target in origin form, or in any form that is not an http(s) URL", () => {
    for (const target of ["/debug", "/http://evil.example/", "*", "evil.example:443", "ftp://evil.example/", "http://[not a host/"]) {
      expect(headersForHostCheck(target, headers), target).toBe(headers)
    }
  })

  it("is the target's authority for one in absolute form, whatever Host says (RFC 9112 §3.2.2)", () => {
    expect(headersForHostCheck("http://evil.example/debug", headers)).toEqual({ host: "evil.example", origin: undefined })
    expect(headersForHostCheck("HTTPS://Evil.Example:8443/x?y", headers).host).toBe("evil.example:8443")
    expect(headersForHostCheck("http://localhost:1/", {}).host).toBe("localhost:1")
  })
})
