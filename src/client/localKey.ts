/**
 * `VAST_API_KEY=local`, the local serverless's key, sent to no address of this machine: `--instance local` left out, the
 * run goes to Vast, asks again for seconds and fails without a word of why (newcomer 39 #4). Said at start.
 */
import { Config, Effect, Option } from "effect"
import { isLoopbackHost } from "../shared/loopbackHost.js"

/** The key the local serverless takes unless told another (its `--api-key`). */
const LOCAL_SERVERLESS_KEY = "local"

/** The warning for `key` sent to `urls` (the ones the run calls); `null` when it is another key, or one URL is this machine. */
export const localKeyWarning = (key: string | undefined, urls: ReadonlyArray<string>): string | null => {
  if (key?.trim() !== LOCAL_SERVERLESS_KEY) return null
  if (urls.some((url) => URL.canParse(url) && isLoopbackHost(new URL(url).hostname))) return null
  return `warning: VAST_API_KEY is "${LOCAL_SERVERLESS_KEY}", the local serverless's key, but the run goes to ${[...new Set(urls)].join(" and ")}: for the local serverless add --instance local (or give --autoscaler-url and --webserver-url)`
}

/** `localKeyWarning` for the key in the environment (unset or unreadable: none). */
export const localKeyWarningFromEnv = (urls: ReadonlyArray<string>): Effect.Effect<string | null> =>
  Config.option(Config.string("VAST_API_KEY")).pipe(
    Effect.map((key) => localKeyWarning(Option.getOrUndefined(key), urls)),
    Effect.orElseSucceed(() => null)
  )
