/** The public port's TLS server (`USE_SSL=true`), from the certificate chain and key files. */
import { readFileSync } from "node:fs"
import { createServer, type Server } from "node:https"
import { Data, Effect } from "effect"
import type { WorkerSettings } from "../config/WorkerConfig.js"

export class TlsUnavailable extends Data.TaggedError("TlsUnavailable")<{ readonly message: string }> {}

/** An HTTPS server with the configured certificate; fails if the files are unreadable or do not match. */
export const tlsServer = (config: Pick<WorkerSettings, "tlsCertFile" | "tlsKeyFile">): Effect.Effect<Server, TlsUnavailable> =>
  Effect.try({
    try: () => createServer({ cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) }),
    catch: (error) =>
      new TlsUnavailable({ message: `Failed to get SSL Certificate: ${error instanceof Error ? error.message : String(error)}` })
  })
