import { createHmac, randomBytes } from "node:crypto"

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

/**
 * A session's `on_close_route` as it may be shown: as `redactUrl` shows it, but for the path past its first segment,
 * where webhooks carry their key (Slack's `/services/T…/B…/<secret>`, Discord's `/api/webhooks/<id>/<token>`, signed
 * paths; review 54 L6), and the first segment too unless it is a plain word (a Telegram bot's `/bot<token>/…`, a
 * health-check service's `/<uuid>`: review 55 M2). What is hidden is told apart by six hex digits of a keyed hash, its
 * key drawn at start: two deliveries to one service look different, and nothing outside the process can test a guess.
 */
export const redactRoute = (url: string): string => {
  if (!URL.canParse(url)) return redactUrl(url)
  const parsed = new URL(url)
  const [, first = "", ...rest] = parsed.pathname.split("/")
  const plain = PLAIN_SEGMENT.test(first)
  const hiddenPath = plain ? rest.join("/") : [first, ...rest].join("/")
  if (hiddenPath === "") return redactUrl(url)
  const tag = createHmac("sha256", TAG_KEY).update(hiddenPath + parsed.search).digest("hex").slice(0, 6)
  return `${parsed.origin}/${plain && first !== "" ? `${first}/` : ""}… (${tag})`
}

/** A first path segment shown: letters, dots, dashes and underscores, 24 at most (`services`, `api`, `hooks`). */
const PLAIN_SEGMENT = /^[A-Za-z._-]{0,24}$/
const TAG_KEY = randomBytes(32)

/**
 * A URL inside free text: a scheme (at most 32 characters, so that a long run of letters and dots is not tried from
 * each of its positions to its end), `://`, then anything up to white space or an angle bracket. Quotes are taken in
 * (a query after a quote would otherwise be left showing) and given back below when they end the match: hiding too
 * much of a message is harmless, too little is not.
 */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]{0,31}:\/\/[^\s<>`]+/gi
/** Punctuation that closes the sentence (or the quotes) around a URL more often than it ends the URL. */
const TRAILING = new Set([...")]}>.,;:!'\""])

/** How many characters at the end of `found` are closing punctuation (a loop: a regex anchored at `$` is quadratic). */
const trailingLength = (found: string): number => {
  let length = 0
  while (length < found.length && TRAILING.has(found.charAt(found.length - 1 - length))) length++
  return length
}

/**
 * A URL that does not parse (cut short, a bad port, a host no parser takes), hidden all the same: whatever stands
 * before an `@` in its authority goes, and so does its query or fragment. Failing open would print the credentials.
 */
const redactUnparsable = (url: string): string => {
  const parts = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^/?#\s]*@)?([^?#]*)([?#].*)?$/i.exec(url)
  if (parts === null) return url
  return `${parts[1] ?? ""}${parts[2] ?? ""}${parts[3] === undefined ? "" : "?…"}`
}

/**
 * `text` with every URL that carries credentials, a query or a fragment shown as `redactUrl` shows it. Messages that
 * quote a URL (a transport error's `POST <url>`, a server's error page) are redacted this way before they are printed.
 */
export const redactUrlsIn = (text: string): string =>
  text.includes("://")
    ? text.replace(URL_IN_TEXT, (found) => {
        const tail = found.slice(found.length - trailingLength(found))
        const url = found.slice(0, found.length - tail.length)
        if (!URL.canParse(url)) return `${redactUnparsable(url)}${tail}`
        const parsed = new URL(url)
        const secretive = parsed.username !== "" || parsed.password !== "" || parsed.search !== "" || parsed.hash !== ""
        return secretive ? `${redactUrl(url)}${tail}` : found
      })
    : text
