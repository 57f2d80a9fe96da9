/**
 * The client's HTTP stack: Node's http/https agents. With `--ca-file`, the certificates in that PEM
 * file are trusted in addition to Node's root store (Vast's workers present certificates signed by
 * Vast's own root CA, https://console.vast.ai/static/jvastai_root.cer).
 *
 * Connections are kept alive between calls, as the SDK's HTTP session keeps them: polls of `/route/`
 * reuse one connection, so when the client stops (Ctrl-C) and the agent closes it, an autoscaler that
 * watches connections (the local serverless does) knows at once that the waiting request has nobody
 * behind it.
 */
import { rootCertificates } from "node:tls"
import { X509Certificate } from "node:crypto"
import type { HttpClient } from "@effect/platform"
import { Effect, Layer, Option } from "effect"
import { keepAliveHttpClient } from "../shared/keepAliveHttpClient.js"
import { readBoundedFile, refusalText } from "../shared/readBoundedFile.js"
import { CaFileInvalid } from "./errors.js"

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** Far more than any bundle of CA certificates (the system's whole store is a few hundred KB): a larger file is not one. */
export const MAX_CA_FILE_BYTES = 8 * 1024 * 1024

/** The certificates of a PEM file; fails when it cannot be read, is not a regular file of at most 8 MiB, or holds none that parse. */
export const readCaFile = (path: string): Effect.Effect<ReadonlyArray<string>, CaFileInvalid> =>
  Effect.gen(function* () {
    const read = yield* Effect.try({
      try: () => readBoundedFile(path, MAX_CA_FILE_BYTES),
      catch: (error) => new CaFileInvalid({ path, reason: error instanceof Error ? error.message : String(error) })
    })
    if (typeof read === "string") {
      return yield* new CaFileInvalid({ path, reason: `${refusalText(read, MAX_CA_FILE_BYTES)}${read === "too large" ? ", not a file of CA certificates" : ""}` })
    }
    const text = read.toString("utf8")
    const blocks = text.match(PEM_BLOCK) ?? []
    if (blocks.length === 0) return yield* new CaFileInvalid({ path, reason: "no PEM certificate (BEGIN CERTIFICATE) found" })
    for (const block of blocks) {
      yield* Effect.try({
        try: () => new X509Certificate(block),
        catch: (error) =>
          new CaFileInvalid({ path, reason: `a certificate does not parse: ${error instanceof Error ? error.message : String(error)}` })
      })
    }
    return blocks
  })

/** An `HttpClient` that trusts Node's roots plus, when given, the certificates in `caFile`. */
export const layer = (caFile: Option.Option<string>): Layer.Layer<HttpClient.HttpClient, CaFileInvalid> =>
  Option.match(caFile, {
    onNone: () => keepAliveHttpClient(),
    onSome: (path) => Layer.unwrapEffect(Effect.map(readCaFile(path), (extra) => keepAliveHttpClient({ ca: [...rootCertificates, ...extra] })))
  })
