/**
 * What the Redis example's programs say when Redis cannot be reached: ioredis retries by itself and emits an
 * `error` for every failed attempt, so a wrong `--redis-url` would otherwise be silence. Each new reason is said
 * once, and the connection coming back once; the URL is shown without its password.
 */
import type { Redis } from "ioredis"
import { redactUrl } from "../../src/shared/redactUrl.js"
import { redisErrorText } from "../../src/shared/redisErrorText.js"
import { repeatedReason } from "../../src/shared/repeatedReason.js"

export const sayConnectionTrouble = (redis: Redis, url: string, say: (text: string) => void): void => {
  // ioredis also takes `host:port`, which is no URL: shown as given, less anything before an `@`.
  const shown = URL.canParse(url) ? redactUrl(url) : url.replace(/^.*@/, "")
  const reasons = repeatedReason()
  redis.on("error", (error: Error) => {
    if (reasons.isNew(error.message)) say(`no connection to ${shown} (${redisErrorText(error.message)}); retrying`)
  })
  redis.on("ready", () => {
    if (reasons.clear()) say(`connected to ${shown} again`)
  })
}
