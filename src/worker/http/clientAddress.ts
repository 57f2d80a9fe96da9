/**
 * Which client a connection comes from, for bounds shared among one client's connections. An IPv6 client is its /64:
 * one host is usually given a whole /64, so its addresses in it are one client. An IPv4 address written as IPv6
 * (`::ffff:1.2.3.4`, a dual-stack listener's form) is the IPv4 address.
 */
export const clientOf = (address: string | undefined): string => {
  if (address === undefined) return ""
  if (!address.includes(":")) return address
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  // A zone (`fe80::1%eth0`) names a link, not a client.
  const bare = address.split("%")[0]!.toLowerCase()
  const [head = "", tail = ""] = bare.split("::")
  const headGroups = head === "" ? [] : head.split(":")
  const tailGroups = bare.includes("::") ? (tail === "" ? [] : tail.split(":")) : []
  // A dotted IPv4 tail (`64:ff9b::1.2.3.4`) stands for two groups.
  const width = (groups: ReadonlyArray<string>) => groups.reduce((sum, group) => sum + (group.includes(".") ? 2 : 1), 0)
  const groups = bare.includes("::")
    ? [...headGroups, ...Array<string>(Math.max(0, 8 - width(headGroups) - width(tailGroups))).fill("0"), ...tailGroups]
    : headGroups
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, "")).join(":")}::/64`
}
