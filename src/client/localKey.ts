/**
 * `VAST_API_KEY=local`, the local serverless's key, sent to no address of this machine: `--instance local` left out, the
 * run goes to Vast, asks again for seconds and fails without a word of why (newcomer 39 #4). Said at start.
 */
import { Config, Effect, Option } from "effect"
import { isLoopbackHost } from "../shared/loopbackHost.js"

/** The key the local serverless takes unless told another (its `--api-key`). */
const LOCAL_SERVERLESS_KEY = "local"

/** What the client and `autoscale` take to reach the local serverless. */
export const CLIENT_LOCAL_FIX = "add --instance local (or give --autoscaler-url and --webserver-url)"

/**
 * The warning for `key` sent to `urls` (the ones the run calls); `null` when it is another key, or one URL is this
 * machine. `fix`: how this program is pointed at the local serverless (the doctor reads the webserver only, the
 * example program its variables: newcomer 40 #8).
 */
export const localKeyWarning = (key: string | undefined, urls: ReadonlyArray<string>, fix = CLIENT_LOCAL_FIX): string | null => {
  if (key?.trim() !== LOCAL_SERVERLESS_KEY) return null
  if (urls.some((url) => URL.canParse(url) && isLoopbackHost(new URL(url).hostname))) return null
  return `warning: VAST_API_KEY is "${LOCAL_SERVERLESS_KEY}", the local serverless's key, but the run goes to ${[...new Set(urls)].join(" and ")}: for the local serverless ${fix}`
}

/** `localKeyWarning` for the key in the environment (unset or unreadable: none). */
export const localKeyWarningFromEnv = (urls: ReadonlyArray<string>, fix = CLIENT_LOCAL_FIX): Effect.Effect<string | null> =>
  Config.option(Config.string("VAST_API_KEY")).pipe(
    Effect.map((key) => localKeyWarning(Option.getOrUndefined(key), urls, fix)),
    Effect.orElseSucceed(() => null)
  )
