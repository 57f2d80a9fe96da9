import fc from "fast-check"
import { BlockList } from "node:net"
import { describe, expect, it } from "vitest"
import { clientOf } from "../../../src/worker/http/clientAddress.js"

describe("the client a connection comes from", () => {
  it.each([
    ["an IPv4 address is itself", "203.0.113.7", "203.0.113.7"],
    ["an IPv4 address written as IPv6 is the IPv4 address", "::ffff:203.0.113.7", "203.0.113.7"],
    ["the same, in capitals", "::FFFF:203.0.113.7", "203.0.113.7"],
    ["its numbers of any length", "::ffff:10.200.3.40", "10.200.3.40"],
    ["an IPv6 address that ends in one written as IPv4 is not one", "2001:db8::ffff:1.2.3.4", "2001:db8:0:0::/64"],
    ["an IPv6 address is its /64", "2001:db8:0:1:2:3:4:5", "2001:db8:0:1::/64"],
    ["written with leading zeros and a gap", "2001:0db8:0000:0000:ffff::2", "2001:db8:0:0::/64"],
    ["written short", "2001:db8::1", "2001:db8:0:0::/64"],
    ["loopback", "::1", "0:0:0:0::/64"],
    ["a zone names a link, not a client", "fe80::1%eth0", "fe80:0:0:0::/64"],
    ["a dotted IPv4 tail is two groups", "1::2:3:4:5:1.2.3.4", "1:0:2:3::/64"],
    ["no address (the socket already gone)", undefined, ""]
  ] as const)("%s", (_, address, client) => {
    expect(clientOf(address)).toBe(client)
  })

  it("two IPv6 addresses are one client exactly when Node's own subnet check puts them in one /64", () => {
    const ipv6 = fc.ipV6().filter((address) => !/^::ffff:\d/i.test(address))
    fc.assert(
      fc.property(ipv6, ipv6, (a, b) => {
        const subnet = new BlockList()
        subnet.addSubnet(clientOf(a).replace("/64", ""), 64, "ipv6")
        expect(subnet.check(a, "ipv6")).toBe(true)
        expect(clientOf(b) === clientOf(a)).toBe(subnet.check(b, "ipv6"))
      }),
      { numRuns: 2_000 }
    )
  })

  it("so does one address and another in its /64", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 4, maxLength: 4 }), (groups, host) => {
        const hex = (values: ReadonlyArray<number>) => values.map((value) => value.toString(16)).join(":")
        expect(clientOf(hex([...groups.slice(0, 4), ...host]))).toBe(clientOf(hex(groups)))
      })
    )
  })
})
