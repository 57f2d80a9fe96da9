/**
 * Where a post to the autoscaler goes: `<addr><path>`, as the framework writes it. An address that carries a query
 * (a token) keeps it after the path, instead of the path landing inside the query.
 */
export const autoscalerUrl = (addr: string, path: string): string => {
  // The usual address: the framework's concatenation, byte for byte (the configuration already dropped trailing `/`).
  if (!addr.includes("?") && !addr.includes("#")) return `${addr}${path}`
  if (!URL.canParse(addr)) return `${addr}${path}`
  const parsed = new URL(addr)
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, "")}${path}`
  return parsed.toString()
}
