import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { readTls } from "../../../src/worker/http/tls.js"

let dir = ""
const file = (name: string) => join(dir, name)

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "null-worker-tls-read-"))
  // Two throwaway pairs: a's certificate with b's key is the mismatch.
  for (const pair of ["a", "b"]) {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", file(`${pair}.key`), "-out", file(`${pair}.crt`), "-days", "1", "-subj", "/CN=127.0.0.1"
    ], { stdio: "ignore" })
  }
  writeFileSync(file("headless.crt"), readFileSync(file("a.crt"), "utf8").replace(/-----BEGIN CERTIFICATE-----\n/, ""))
  writeFileSync(file("big.crt"), Buffer.concat([readFileSync(file("a.crt")), Buffer.alloc(1024 * 1024, "x")]))
  execFileSync("mkfifo", [file("fifo")])
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The one-line message `readTls` fails with. */
const refusal = (tlsCertFile: string, tlsKeyFile: string) =>
  Effect.map(Effect.either(readTls({ tlsCertFile, tlsKeyFile })), (result) => {
    if (Either.isRight(result)) throw new Error("expected the pair to be refused")
    assert.notInclude(result.left.message, "\n")
    assert.notMatch(result.left.message, /\bat \S+ \(/)
    return result.left.message
  })

describe("readTls", () => {
  it.effect("a matching pair is read", () =>
    Effect.gen(function* () {
      const { cert, key } = yield* readTls({ tlsCertFile: file("a.crt"), tlsKeyFile: file("a.key") })
      assert.deepStrictEqual([cert, key], [readFileSync(file("a.crt")), readFileSync(file("a.key"))])
    })
  )

  it.effect("a key that does not match the certificate: one line naming both variables and OpenSSL's reason, no stack", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        yield* refusal(file("a.crt"), file("b.key")),
        "Failed to get SSL Certificate: WORKER_TLS_CERT/WORKER_TLS_KEY: the key does not match the certificate (error:05800074:x509 certificate routines::key values mismatch)"
      )
    })
  )

  it.effect("swapped files name the certificate; a key that is not one names the key", () =>
    Effect.gen(function* () {
      assert.match(yield* refusal(file("a.key"), file("a.crt")), /^Failed to get SSL Certificate: WORKER_TLS_CERT: not a PEM certificate \(error:.+\)$/)
      assert.match(yield* refusal(file("a.crt"), file("b.crt")), /^Failed to get SSL Certificate: WORKER_TLS_KEY: not a PEM private key \(error:.+\)$/)
    })
  )

  it.effect("a PEM without its header", () =>
    Effect.gen(function* () {
      assert.match(yield* refusal(file("headless.crt"), file("a.key")), /^Failed to get SSL Certificate: WORKER_TLS_CERT: not a PEM certificate \(error:.+\)$/)
    })
  )

  it.effect("a device is refused before it is read (/dev/zero would be read without end)", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* refusal("/dev/null", file("a.key")), "Failed to get SSL Certificate: WORKER_TLS_CERT: /dev/null is not a regular file")
    })
  )

  it.effect("a FIFO is refused without waiting for a writer", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* refusal(file("a.crt"), file("fifo")), `Failed to get SSL Certificate: WORKER_TLS_KEY: ${file("fifo")} is not a regular file`)
    })
  )

  it.effect("a file over 1 MiB is refused", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        yield* refusal(file("big.crt"), file("a.key")),
        `Failed to get SSL Certificate: WORKER_TLS_CERT: ${file("big.crt")} is larger than 1 MiB, not a certificate or key`
      )
    })
  )

  it.effect("a missing file names its variable", () =>
    Effect.gen(function* () {
      assert.match(yield* refusal(file("a.crt"), file("missing.key")), /^Failed to get SSL Certificate: WORKER_TLS_KEY: ENOENT: /)
    })
  )
})
