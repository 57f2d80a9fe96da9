/**
 * The user's key from `VAST_API_KEY`. Unset, empty or blank is `ApiKeyMissing`, whose message says what to do,
 * rather than Effect's `ConfigError` (`(Missing data at VAST_API_KEY: …)`). White space around it is dropped (a key
 * read from a file with CRLF line ends keeps its CR); a character no key holds (a space inside it, a control
 * character, or one outside ASCII) is said as such, not as a server that "did not answer" when the request cannot be
 * sent.
 */
import { Config, Effect, Option, Redacted } from "effect"
import { apiKeyText } from "../protocol/apiKey.js"
import { ApiKeyMissing } from "./errors.js"

export const apiKeyFromEnv: Effect.Effect<Redacted.Redacted<string>, ApiKeyMissing> = Config.string("VAST_API_KEY").pipe(
  Config.option,
  Effect.map(Option.map(apiKeyText)),
  Effect.flatMap(
    Option.match({
      onNone: () => Effect.fail(new ApiKeyMissing({ unusable: false })),
      onSome: ({ key, usable }) =>
        key === "" ? Effect.fail(new ApiKeyMissing({ unusable: false })) : usable ? Effect.succeed(Redacted.make(key)) : Effect.fail(new ApiKeyMissing({ unusable: true }))
    })
  ),
  Effect.catchTag("ConfigError", () => Effect.fail(new ApiKeyMissing({ unusable: false })))
)
