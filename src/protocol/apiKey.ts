/**
 * A user API key as the client and the local serverless both read it: white space around it dropped (a key read from a
 * file with CRLF line ends keeps its CR), and usable when what is left is visible ASCII, as a bearer token is. Read
 * one way at both ends, the same key file works for both (review 43 L4).
 */

/** What a key may hold: the visible ASCII characters. */
const HEADER_SAFE = /^[\x21-\x7e]+$/

export interface ApiKeyText {
  /** The key, trimmed ("" when nothing is left). */
  readonly key: string
  /** Whether it can be sent: not empty, visible ASCII only. */
  readonly usable: boolean
}

export const apiKeyText = (raw: string): ApiKeyText => {
  const key = raw.trim()
  return { key, usable: HEADER_SAFE.test(key) }
}
