/**
 * Where a post to the autoscaler goes: `<addr><path>`, the path joined to the address's own path. An address that
 * carries a query (a token) keeps it after the path, instead of the path landing inside the query.
 */
export const autoscalerUrl = (addr: string, path: string): string => {
  // Not a URL (the configuration refuses those): written as given, and the post fails as an invalid address.
  if (!URL.canParse(addr)) return `${addr}${path}`
  const url = new URL(addr)
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${path}`
  return url.toString()
}
