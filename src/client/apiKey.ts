/**
 * The user's key from `VAST_API_KEY`. Unset, empty or blank is `ApiKeyMissing`, whose message says what to do,
 * rather than Effect's `ConfigError` (`(Missing data at VAST_API_KEY: …)`).
 */
import { Config, Effect, Option, Redacted } from "effect"
import { ApiKeyMissing } from "./errors.js"

export const apiKeyFromEnv: Effect.Effect<Redacted.Redacted<string>, ApiKeyMissing> = Config.redacted("VAST_API_KEY").pipe(
  Config.option,
  Effect.map(Option.filter((key) => Redacted.value(key).trim() !== "")),
  Effect.flatMap(Option.match({ onNone: () => Effect.fail(new ApiKeyMissing()), onSome: Effect.succeed })),
  Effect.catchTag("ConfigError", () => Effect.fail(new ApiKeyMissing()))
)
