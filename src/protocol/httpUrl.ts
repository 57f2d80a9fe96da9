import { Schema } from "effect"

const isHttpUrl = (text: string): boolean => {
  if (!URL.canParse(text)) return false
  const { protocol, hostname, port } = new URL(text)
  // Port 0 is no port a server listens on; Node's clients would send the request to the scheme's default port instead.
  return (protocol === "http:" || protocol === "https:") && hostname !== "" && port !== "0"
}

/** An absolute http(s) URL, with a port a server can listen on (not `:0`). */
export const HttpUrl = Schema.String.pipe(
  Schema.maxLength(8192),
  Schema.filter(isHttpUrl, { message: () => "must be an absolute http(s) URL" })
)
