import { Schema } from "effect"

const isHttpUrl = (text: string): boolean => {
  if (!URL.canParse(text)) return false
  // A URL of these schemes always has a host (WHATWG URL: "special" schemes refuse an empty one).
  const { protocol } = new URL(text)
  return protocol === "http:" || protocol === "https:"
}

/** Node's clients would send a request for port 0 to the scheme's default port instead. */
const usesPortZero = (url: string): boolean => new URL(url).port === "0"

/**
 * Whether the URL, as it is sent (percent-encoded: `é` is 6 characters there), fits: a route written with 8,192 `é`s
 * was 49 KB on the wire, in `/debug` and in every log line of it (probe 50 L1).
 */
const fitsWhenSent = (text: string): boolean => new URL(text).href.length <= MAX_URL_LENGTH

/** Why `text` is not an `HttpUrl`, or null: the rule it breaks, for a message that names the setting. */
export const httpUrlProblem = (text: string): string | null =>
  text.length > MAX_URL_LENGTH
    ? TOO_LONG
    : !isHttpUrl(text)
      ? NOT_HTTP_URL
      : !fitsWhenSent(text)
        ? TOO_LONG
        : usesPortZero(text)
          ? PORT_ZERO
          : null

/** The longest URL taken, as written and as sent: a route is kept per session and sent with every report of it. */
export const MAX_URL_LENGTH = 8192
const TOO_LONG = `must be at most ${MAX_URL_LENGTH} characters long, written as a URL (percent-encoded)`

export const NOT_HTTP_URL = "must be an absolute http(s) URL"
const PORT_ZERO = "must not use port 0 (no server listens there)"

/** An absolute http(s) URL, with a port a server can listen on (not `:0`). */
export const HttpUrl = Schema.String.pipe(
  Schema.maxLength(MAX_URL_LENGTH, { message: () => TOO_LONG }),
  Schema.filter(isHttpUrl, { message: () => NOT_HTTP_URL }),
  Schema.filter(fitsWhenSent, { message: () => TOO_LONG }),
  Schema.filter((text) => !usesPortZero(text), { message: () => PORT_ZERO })
)
