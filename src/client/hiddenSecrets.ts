/**
 * Secrets taken out of what a server sent back before the client prints it (probe 53 #1): an error page or a
 * validation error (FastAPI's `422` carries its `input`) may echo the request, and with it the user's API key, the
 * endpoint's key or a route answer's signature. The client knows which it sent; each is replaced wherever it appears,
 * as sent and as JSON or a URL writes it.
 */
const HIDDEN = "[redacted]"

/** Shorter values are left as they are: one cannot tell them from ordinary words (the local serverless' key `local`), and no real key is that short. */
const SHORTEST_HIDDEN = 8

const spellings = (secret: string): ReadonlyArray<string> => [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]

export const withoutSecrets = (text: string, secrets: ReadonlyArray<string | undefined>): string => {
  let shown = text
  for (const secret of secrets) {
    if (secret === undefined || secret.length < SHORTEST_HIDDEN) continue
    for (const spelling of spellings(secret)) shown = shown.split(spelling).join(HIDDEN)
  }
  return shown
}
