import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { browserRefusal, isLoopbackAddress, loopbackNamesIn, machineNamesFrom } from "../../src/shared/browserGuard.js"
import { hostsText } from "../../src/shared/hostsText.js"

describe("browserGuard", () => {
  it("/etc/hosts is read only as a small regular file: a directory, a missing file or one past 1 MiB gives no names", () => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-hosts-"))
    try {
      writeFileSync(join(dir, "hosts"), "127.0.1.1 devbox\n")
      writeFileSync(join(dir, "big"), "x".repeat(1024 * 1024 + 1))
      assert.strictEqual(hostsText(join(dir, "hosts")), "127.0.1.1 devbox\n")
      for (const path of [dir, join(dir, "missing"), join(dir, "big"), "/dev/zero"]) assert.strictEqual(hostsText(path), "", path)
      // The machine's name in any case, and localhost.localdomain, are its names too.
      assert.deepStrictEqual([...machineNamesFrom("DevBox", "127.0.1.1 devbox.lan\n")], ["localhost.localdomain", "devbox", "devbox.lan"])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("the names /etc/hosts gives a loopback address (Debian's 127.0.1.1 full name) are this machine's; others are not", () => {
    const hosts = "127.0.0.1\tlocalhost\n127.0.1.1  devbox.example.lan \t Devbox # the machine\n  ::1 ip6-localhost\n192.168.1.5 printer\n# 127.0.0.1 commented\n\n"
    assert.deepStrictEqual(loopbackNamesIn(hosts), ["localhost", "devbox.example.lan", "devbox", "ip6-localhost"])
  })

  it("a connection that came in on loopback (IPv4, IPv6, or IPv4 mapped into IPv6) is checked for Host; one from another interface is not", () => {
    for (const address of ["127.0.0.1", "127.10.200.30", "::1", "::ffff:127.0.0.1", "::FFFF:127.0.0.2"]) assert.isTrue(isLoopbackAddress(address), address)
    for (const address of [undefined, "0.0.0.0", "::", "192.168.1.5", "172.17.0.1", "::ffff:10.0.0.1", "1127.0.0.1", "127.0.0.1x", "fe80::1"]) {
      assert.isFalse(isLoopbackAddress(address), String(address))
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
    // Names no page can own: any IPv4 spelling inet_aton reads, `.internal` (Docker's host.docker.internal), /etc/hosts's loopback names.
    for (const host of ["127.1:8080", "0x7f000001", "127.0xff.0.1", "127.0.0.10:8080", "2130706433", "host.docker.internal:8080", "host.containers.internal"]) {
      assert.isNull(browserRefusal({ host }, serverless), host)
    }
    for (const host of ["127.0.0.1.evil.example", "1.2.3.4.evil.example", "internal.evil.example", "0x7g000001"]) {
      assert.strictEqual(browserRefusal({ host }, serverless)?.field, "host", host)
    }
    // Bound to every interface, a worker in a container may name it by a name of the network.
    assert.isNull(browserRefusal({ host: "devbox.lan:8080" }, { ...serverless, host: false }))
    assert.strictEqual(browserRefusal({ host: "devbox.lan:8080", origin: "http://devbox.lan:8080" }, { ...serverless, host: false })?.field, "origin")
  })
})
