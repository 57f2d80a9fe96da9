import { Schema } from "effect"

const isHttpUrl = (text: string): boolean => {
  if (!URL.canParse(text)) return false
  const { protocol, hostname } = new URL(text)
  return (protocol === "http:" || protocol === "https:") && hostname !== ""
}

/** An absolute http(s) URL. */
export const HttpUrl = Schema.String.pipe(
  Schema.maxLength(8192),
  Schema.filter(isHttpUrl, { message: () => "must be an absolute http(s) URL" })
)
