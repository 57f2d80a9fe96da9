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
import { readFileSync } from "node:fs"
import { rootCertificates } from "node:tls"
import { X509Certificate } from "node:crypto"
import type { HttpClient } from "@effect/platform"
import { Effect, Layer, Option } from "effect"
import { keepAliveHttpClient } from "../shared/keepAliveHttpClient.js"
import { CaFileInvalid } from "./errors.js"

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** The certificates of a PEM file; fails when it cannot be read or holds none that parse. */
export const readCaFile = (path: string): Effect.Effect<ReadonlyArray<string>, CaFileInvalid> =>
  Effect.gen(function* () {
    const text = yield* Effect.try({
      try: () => readFileSync(path, "utf8"),
      catch: (error) => new CaFileInvalid({ path, reason: error instanceof Error ? error.message : String(error) })
    })
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
