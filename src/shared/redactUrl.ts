/**
 * A URL as it may be shown (logs, `/debug`): without credentials (`user:pass@`) and without the query
 * string, where API keys usually travel. The path stays: it tells the operator which endpoint it is.
 */
export const redactUrl = (url: string): string => {
  if (!URL.canParse(url)) return "<invalid URL>"
  const parsed = new URL(url)
  const hadQuery = parsed.search !== ""
  parsed.username = ""
  parsed.password = ""
  parsed.search = ""
  parsed.hash = ""
  // `new URL` writes an empty path as "/": keep the caller's form.
  const text = parsed.pathname === "/" && !/^[a-z]+:\/\/[^/]+\//i.test(url) ? parsed.toString().slice(0, -1) : parsed.toString()
  return hadQuery ? `${text}?…` : text
}
