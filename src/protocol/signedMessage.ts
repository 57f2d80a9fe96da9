/**
 * The bytes the autoscaler signs: Python's `json.dumps({"url": url}, indent=4, sort_keys=True)` with its
 * default `ensure_ascii=True`. `JSON.stringify` differs on DEL and non-ASCII characters (it leaves them raw),
 * so the string is escaped here by Python's rules.
 */

const shortEscapes: Readonly<Record<string, string>> = {
  "\"": "\\\"",
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f"
}

// Python's ESCAPE_ASCII: `"`, `\` and everything outside printable ASCII (space to `~`). Without the `u`
// flag the pattern sees UTF-16 code units, so an astral character becomes its two escaped surrogates.
const needsEscape = /["\\\u0000-\u001f\u007f-\uffff]/g

const escapeCodeUnit = (unit: string): string =>
  shortEscapes[unit] ?? `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`

// `text` as a Python `ensure_ascii` JSON string literal, quotes included.
const pythonJsonString = (text: string): string => `"${text.replace(needsEscape, escapeCodeUnit)}"`

/** The exact message whose signature is `auth_data.signature` (before UTF-8 encoding; it is pure ASCII). */
export const signedMessage = (url: string): string => `{\n    "url": ${pythonJsonString(url)}\n}`
