import { randomBytes } from "node:crypto"
import { Effect } from "effect"

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
/** Session ids have the framework's shape: 13 characters of `[A-Za-z0-9]`. */
export const SESSION_ID_LENGTH = 13
// 248 = 4 × 62: bytes at or above it are dropped so every character is equally likely.
const UNBIASED_LIMIT = 248

/** A new session id from the operating system's CSPRNG (the framework used a non-secure PRNG). */
export const newSessionId: Effect.Effect<string> = Effect.sync(() => {
  let id = ""
  while (id.length < SESSION_ID_LENGTH) {
    for (const byte of randomBytes(32)) {
      if (byte >= UNBIASED_LIMIT) continue
      id += ALPHABET[byte % 62]
      if (id.length === SESSION_ID_LENGTH) break
    }
  }
  return id
})
