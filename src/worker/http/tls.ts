/** The public port's TLS certificate chain and key (`USE_SSL=true`). */
import { createSecureContext } from "node:tls"
import { Data, Effect } from "effect"
import type { WorkerSettings } from "../config/WorkerConfig.js"
import { readBoundedFile, refusalText } from "../../shared/readBoundedFile.js"

export class TlsUnavailable extends Data.TaggedError("TlsUnavailable")<{ readonly message: string }> {}

/** A PEM chain or key is a few KB; a larger file is not one (and `/dev/zero` would be read for ever). */
export const maxTlsFileBytes = 1024 * 1024

/** The first line of an error's message: Node's and OpenSSL's errors are one line, and never their stack. */
const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? ""

const failure = (text: string) => new TlsUnavailable({ message: `Failed to get SSL Certificate: ${text}` })

/** A regular file of at most `maxTlsFileBytes`, read whole. */
const readBounded = (name: string, path: string): Effect.Effect<Buffer, TlsUnavailable> =>
  Effect.try({
    try: () => {
      const read = readBoundedFile(path, maxTlsFileBytes)
      if (typeof read === "string") throw failure(`${name}: ${path} is ${refusalText(read, maxTlsFileBytes)}${read === "too large" ? ", not a certificate or key" : ""}`)
      return read
    },
    catch: (error) => (error instanceof TlsUnavailable ? error : failure(`${name}: ${reason(error)}`))
  })

/** OpenSSL's verdict on one PEM, or on the pair, as one line. */
const usable = (what: string, options: { readonly cert?: Buffer; readonly key?: Buffer }): Effect.Effect<void, TlsUnavailable> =>
  Effect.try({ try: () => void createSecureContext(options), catch: (error) => failure(`${what} (${reason(error)})`) })

/**
 * The configured certificate and key, checked the way the listener will use them: each alone first, so that a
 * bad file is named, then the pair. Fails with one line naming the variables, never a stack.
 */
export const readTls = (config: Pick<WorkerSettings, "tlsCertFile" | "tlsKeyFile">): Effect.Effect<{ readonly cert: Buffer; readonly key: Buffer }, TlsUnavailable> =>
  Effect.gen(function* () {
    const cert = yield* readBounded("WORKER_TLS_CERT", config.tlsCertFile)
    const key = yield* readBounded("WORKER_TLS_KEY", config.tlsKeyFile)
    yield* usable("WORKER_TLS_CERT: not a PEM certificate", { cert })
    yield* usable("WORKER_TLS_KEY: not a PEM private key", { key })
    yield* usable("WORKER_TLS_CERT/WORKER_TLS_KEY: the key does not match the certificate", { cert, key })
    return { cert, key }
  })
