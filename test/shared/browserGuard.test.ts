import { assert, describe, it } from "@effect/vitest"
import { boundToLoopback, browserRefusal } from "../../src/shared/browserGuard.js"

describe("browserGuard", () => {
  it("a server bound to loopback only checks Host; one bound to every interface or a network's address does not", () => {
    for (const host of ["127.0.0.1", "127.0.0.2", "127.10.200.30", "localhost", "::1", "[::1]"]) assert.isTrue(boundToLoopback(host), host)
    // Brackets count only as a pair; 127/8 only whole.
    for (const host of ["0.0.0.0", "::", "[::]", "192.168.1.5", "devbox", "[localhostx", "x::1]", "[::1x", "1127.0.0.1", "127.0.0.1x"]) {
      assert.isFalse(boundToLoopback(host), host)
    }
  })

  it("the local serverless's guard: its own page reloading itself (same-origin) is served; a cross-site one is not; Host is checked only when asked", () => {
    const serverless = { server: "the local serverless", sameOrigin: true, host: true }
    assert.isNull(browserRefusal({ host: "127.0.0.1:8080", "sec-fetch-site": "same-origin" }, serverless))
    assert.isNull(browserRefusal({ host: "localhost:8080", "sec-fetch-site": "none" }, serverless))
    for (const site of ["cross-site", "same-site"]) assert.strictEqual(browserRefusal({ host: "127.0.0.1", "sec-fetch-site": site }, serverless)?.field, "sec-fetch-site")
    assert.strictEqual(browserRefusal({ host: "devbox.lan:8080" }, serverless)?.field, "host")
    // More than one Host line names no one host (Node joins none of them; a caller's headers may hold a list).
    for (const host of [["127.0.0.1", "evil.example"], ["127.0.0.1"]]) assert.strictEqual(browserRefusal({ host }, serverless)?.field, "host")
    // Bound to every interface, a worker in a container may name it by a name of the network.
    assert.isNull(browserRefusal({ host: "devbox.lan:8080" }, { ...serverless, host: false }))
    assert.strictEqual(browserRefusal({ host: "devbox.lan:8080", origin: "http://devbox.lan:8080" }, { ...serverless, host: false })?.field, "origin")
  })
})
