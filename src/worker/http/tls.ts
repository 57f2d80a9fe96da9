/** The public port's TLS certificate chain and key (`USE_SSL=true`). */
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto"
import { createSecureContext } from "node:tls"
import { Clock, Data, Effect } from "effect"
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
 * The key against the (first) certificate's public key: OpenSSL keeps a key of another type (an RSA key beside an EC
 * certificate) in a slot of its own and never compares the two, and every handshake then fails (probe 55 #3).
 */
const samePublicKey = (cert: Buffer, key: Buffer): Effect.Effect<X509Certificate, TlsUnavailable> =>
  Effect.try({
    try: () => {
      const leaf = new X509Certificate(cert)
      // From the private key: a file holding a certificate before its key would have given the certificate's (probe 56 #4).
      const publicKey = createPublicKey(createPrivateKey(key))
      if (leaf.publicKey.equals(publicKey)) return leaf
      const [keyType, certificateType] = [publicKey.asymmetricKeyType, leaf.publicKey.asymmetricKeyType]
      throw new Error(keyType === certificateType ? "another key" : `a key of type ${keyType} for a certificate of type ${certificateType}`)
    },
    catch: (error) => failure(`WORKER_TLS_CERT/WORKER_TLS_KEY: the key does not match the certificate (${reason(error)})`)
  })

/**
 * A certificate out of its dates is served (a client that does not verify still gets through), with a warning: a
 * client that verifies (the Vast SDK, the client's `--ca-file`) refuses every handshake (probe 55 #4).
 */
const warnIfOutOfDate = (leaf: X509Certificate) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const [from, to] = [Date.parse(leaf.validFrom), Date.parse(leaf.validTo)]
    const problem = to < now ? `expired on ${new Date(to).toISOString()}` : from > now ? `is not valid before ${new Date(from).toISOString()}` : null
    if (problem === null) return
    yield* Effect.logWarning(`WORKER_TLS_CERT ${problem}: it is served as it is, and a client that verifies it (the Vast SDK, the client with --ca-file) refuses every handshake`)
  })

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
    yield* warnIfOutOfDate(yield* samePublicKey(cert, key))
    return { cert, key }
  })
