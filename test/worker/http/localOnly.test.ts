import { assert, describe, it } from "@effect/vitest"
import { hostname } from "node:os"
import { notLocal } from "../../../src/worker/http/localOnly.js"

describe("notLocal (the control port's guard against web pages)", () => {
  it("a local client's request passes: no Origin, no cross-site fetch metadata, addressed to a loopback literal or localhost", () => {
    for (const host of [
      undefined,
      "127.0.0.1:18999",
      "127.0.0.1",
      "localhost:",
      "[fe80::1%25eth0]:18999",
      "localhost:18999",
      "LOCALHOST",
      "localhost.:1",
      "app.localhost:80",
      "[::1]:18999",
      "10.0.0.5:18999",
      "localhost.localdomain:18999",
      `${hostname()}:18999`,
      hostname().toUpperCase()
    ]) {
      assert.isNull(notLocal(host === undefined ? {} : { host }), String(host))
    }
    // Typed into the address bar, a browser says `none`: a person reading /debug.
    assert.isNull(notLocal({ host: "127.0.0.1:18999", "sec-fetch-site": "none" }))
    // Node's fetch sends `sec-fetch-mode: cors` but neither header that marks a web page.
    assert.isNull(notLocal({ host: "127.0.0.1:18999", "sec-fetch-mode": "cors" }))
  })

  it("a web page's request is refused, naming the header that shows it", () => {
    const fieldOf = (headers: Record<string, string>) => notLocal(headers)?.field
    assert.strictEqual(fieldOf({ host: "127.0.0.1:18999", origin: "http://evil.example" }), "origin")
    assert.strictEqual(fieldOf({ host: "127.0.0.1:18999", origin: "null" }), "origin")
    for (const site of ["cross-site", "same-site", "same-origin"]) assert.strictEqual(fieldOf({ host: "127.0.0.1:18999", "sec-fetch-site": site }), "sec-fetch-site", site)
    // DNS rebinding: the page's own name, now pointing at 127.0.0.1.
    for (const host of ["rebind.evil.example:18999", "evil.example", "localhost.evil.example", "[::1", "[evil]:1", "", "[::1]evil.example", "localhost:1@evil.example", "localhost:18999/x", "127.0.0.1:abc", "evil.example@localhost", "evil.example/127.0.0.1"]) {
      assert.strictEqual(fieldOf({ host }), "host", host)
    }
    assert.strictEqual(notLocal({ origin: "http://evil.example" })?.message, "origin: the control port does not answer requests from web pages (this one has an Origin header)")
    assert.strictEqual(notLocal({ "sec-fetch-site": "cross-site" })?.message, "sec-fetch-site: the control port does not answer requests from web pages")
    // A worker's session callback (its on_close_route chosen by whoever reserved): never a local consumer's request.
    assert.strictEqual(notLocal({ host: "127.0.0.1:18999", "user-agent": "null-worker-callback/1.0.0" })?.field, "user-agent")
    assert.isNull(notLocal({ host: "127.0.0.1:18999", "user-agent": "curl/8.5.0" }))
    const refused = notLocal({ host: "evil.example" })
    assert.strictEqual(refused?._tag, "NotLocalRequest")
    assert.strictEqual(
      refused?.message,
      "host: the control port answers requests addressed to an IP address, localhost or this machine's name only (a proxy or tunnel can send Host: localhost)"
    )
  })
})
