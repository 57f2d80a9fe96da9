import { describe, expect, it } from "vitest"
import type { IncomingMessage } from "node:http"
import { headersForHostCheck, hostProblem } from "../../src/shared/hostHeader.js"

describe("the host a request is for", () => {
  const headers = { host: "127.0.0.1:1", origin: undefined }

  it("is Host's for a target in origin form, or in any form that is not an http(s) URL", () => {
    for (const target of ["/debug", "/http://evil.example/", "*", "evil.example:443", "ftp://evil.example/", "http://[not a host/", "x:http://evil.example/"]) {
      expect(headersForHostCheck(target, headers), target).toBe(headers)
    }
  })

  it("is the target's authority for one in absolute form, whatever Host says (RFC 9112 §3.2.2)", () => {
    expect(headersForHostCheck("http://evil.example/debug", headers)).toEqual({ host: "evil.example", origin: undefined })
    expect(headersForHostCheck("HTTPS://Evil.Example:8443/x?y", headers).host).toBe("evil.example:8443")
    expect(headersForHostCheck("http://localhost:1/", {}).host).toBe("localhost:1")
  })
})

describe("a request's Host problem", () => {
  /** What `hostProblem` reads of a request: its version, its headers as Node keeps them, and every header line. */
  const request = (version: string, lines: ReadonlyArray<readonly [string, string]>) => {
    const [major, minor] = version.split(".").map(Number)
    const headers: Record<string, string> = {}
    for (const [name, value] of lines) headers[name.toLowerCase()] ??= value
    return { httpVersionMajor: major, httpVersionMinor: minor, headers, rawHeaders: lines.flat() } as unknown as IncomingMessage
  }

  it("none with one Host line among others, of any length and case; none for HTTP/1.0 without Host", () => {
    expect(hostProblem(request("1.1", [["HOST", "a"], ["From", "b"], ["Date", "c"], ["Hosts", "d"]]))).toBeNull()
    expect(hostProblem(request("1.0", [["From", "b"]]))).toBeNull()
  })

  it("missing from HTTP/1.1; repeated on two lines, in any case, apart or together", () => {
    expect(hostProblem(request("1.1", [["From", "b"]]))).toBe("missing")
    expect(hostProblem(request("1.1", [["Host", "a"], ["From", "b"], ["host", "c"]]))).toBe("repeated")
    expect(hostProblem(request("1.0", [["host", "a"], ["Host", "a"]]))).toBe("repeated")
  })
})
