/** The public port's TLS certificate chain and key (`USE_SSL=true`). */
import { readFileSync } from "node:fs"
import { Data, Effect } from "effect"
import type { WorkerSettings } from "../config/WorkerConfig.js"

export class TlsUnavailable extends Data.TaggedError("TlsUnavailable")<{ readonly message: string }> {}

/** The configured certificate and key; fails if the files are unreadable. */
export const readTls = (config: Pick<WorkerSettings, "tlsCertFile" | "tlsKeyFile">): Effect.Effect<{ readonly cert: Buffer; readonly key: Buffer }, TlsUnavailable> =>
  Effect.try({
    try: () => ({ cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) }),
    catch: (error) =>
      new TlsUnavailable({ message: `Failed to get SSL Certificate: ${error instanceof Error ? error.message : String(error)}` })
  })
