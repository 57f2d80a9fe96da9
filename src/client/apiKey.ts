/**
 * The user's key from `VAST_API_KEY`. Unset, empty or blank is `ApiKeyMissing`, whose message says what to do,
 * rather than Effect's `ConfigError` (`(Missing data at VAST_API_KEY: …)`). White space around it is dropped (a key
 * read from a file with CRLF line ends keeps its CR); a character no key holds (a space inside it, a control
 * character, or one outside ASCII) is said as such, not as a server that "did not answer" when the request cannot be
 * sent.
 */
import { Config, Effect, Option, Redacted } from "effect"
import { ApiKeyMissing } from "./errors.js"

/** What a key may hold: the visible ASCII characters, as a bearer token does. */
const HEADER_SAFE = /^[\x21-\x7e]+$/

export const apiKeyFromEnv: Effect.Effect<Redacted.Redacted<string>, ApiKeyMissing> = Config.string("VAST_API_KEY").pipe(
  Config.option,
  Effect.map(Option.map((key) => key.trim())),
  Effect.flatMap(
    Option.match({
      onNone: () => Effect.fail(new ApiKeyMissing({ unusable: false })),
      onSome: (key) =>
        key === "" ? Effect.fail(new ApiKeyMissing({ unusable: false })) : HEADER_SAFE.test(key) ? Effect.succeed(Redacted.make(key)) : Effect.fail(new ApiKeyMissing({ unusable: true }))
    })
  ),
  Effect.catchTag("ConfigError", () => Effect.fail(new ApiKeyMissing({ unusable: false })))
)
