import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import * as HttpStack from "../../src/client/httpClient.js"
import { isUntrustedCertificate } from "../../src/client/untrustedCertificate.js"

/** A self-signed certificate for 127.0.0.1 (openssl), removed with the scope. */
const certificate = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = mkdtempSync(join(tmpdir(), "null-worker-client-ca-"))
    const [cert, key] = [join(dir, "cert.pem"), join(dir, "key.pem")]
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"
    ], { stdio: "ignore" })
    return { dir, cert, key }
  }),
  ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const httpsServer = (cert: string, key: string) =>
  Effect.acquireRelease(
    Effect.async<{ server: Server; url: string }>((resume) => {
      const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (_request, response) =>
        response.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}')
      )
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed({ server, url: `https://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}` }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

describe("--ca-file", () => {
  it.scoped("trusts the file's CA in addition to the system roots; without it the worker's certificate is refused", () =>
    Effect.gen(function* () {
      const { cert, key } = yield* certificate
      const { url } = yield* httpsServer(cert, key)
      const status = (caFile: Option.Option<string>) =>
        Effect.flatMap(HttpClient.HttpClient, (client) => client.get(`${url}/ping`)).pipe(
          Effect.map((response) => response.status),
          Effect.provide(HttpStack.layer(caFile)),
          Effect.either
        )
      const refused = yield* status(Option.none())
      assert.isTrue(Either.isLeft(refused) && refused.left._tag === "RequestError")
      // Node's reason travels in the error's cause: it is what makes the client stop and name --ca-file.
      assert.isTrue(Either.isLeft(refused) && isUntrustedCertificate(refused.left.cause))
      assert.deepStrictEqual(yield* status(Option.some(cert)), Either.right(200))
    })
  )

  it.scoped("a missing file, or one without a certificate, is CaFileInvalid", () =>
    Effect.gen(function* () {
      const { dir, key } = yield* certificate
      const missing = yield* Effect.flip(HttpStack.readCaFile(join(dir, "nope.pem")))
      assert.strictEqual(missing._tag, "CaFileInvalid")
      const keyOnly = yield* Effect.flip(HttpStack.readCaFile(key))
      assert.include(keyOnly.message, "no PEM certificate")
      const garbage = join(dir, "garbage.pem")
      writeFileSync(garbage, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
      assert.include((yield* Effect.flip(HttpStack.readCaFile(garbage))).message, "does not parse")
    })
  )

  it.scoped("a file past 8 MiB (a wrong path: a disk image, a log) is refused unread, in one line; so is a device that never ends", () =>
    Effect.gen(function* () {
      const { dir } = yield* certificate
      const large = join(dir, "large.pem")
      // Sparse: its size is what counts, nothing is written.
      writeFileSync(large, "")
      truncateSync(large, HttpStack.MAX_CA_FILE_BYTES + 1)
      assert.strictEqual((yield* Effect.flip(HttpStack.readCaFile(large))).message, `--ca-file ${large}: larger than 8 MiB, not a file of CA certificates`)
      assert.strictEqual((yield* Effect.flip(HttpStack.readCaFile("/dev/zero"))).message, "--ca-file /dev/zero: not a regular file")
    })
  )
})
