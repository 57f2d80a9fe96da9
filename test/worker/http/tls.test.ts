import { execFileSync } from "node:child_process"
import { X509Certificate } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Either, TestClock } from "effect"
import { readTls } from "../../../src/worker/http/tls.js"
import { capturedLogs } from "../../support/logs.js"

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
  // An EC pair: OpenSSL never compares a key of one type with a certificate of the other.
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", file("ec.key"), "-out", file("ec.crt"), "-days", "1", "-subj", "/CN=127.0.0.1"
  ], { stdio: "ignore" })
  writeFileSync(file("a-with-certificate.key"), readFileSync(file("ec.crt"), "utf8") + readFileSync(file("a.key"), "utf8"))
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

  it.effect("a key of another type than the certificate's (an RSA key for an EC certificate, and the reverse) is the mismatch it is (probe 55 #3: it was taken, and every handshake failed)", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        yield* refusal(file("ec.crt"), file("a.key")),
        "Failed to get SSL Certificate: WORKER_TLS_CERT/WORKER_TLS_KEY: the key does not match the certificate (a key of type rsa for a certificate of type ec)"
      )
      assert.strictEqual(
        yield* refusal(file("a.crt"), file("ec.key")),
        "Failed to get SSL Certificate: WORKER_TLS_CERT/WORKER_TLS_KEY: the key does not match the certificate (a key of type ec for a certificate of type rsa)"
      )
      // A key file holding a certificate before the key is judged by the key (probe 56 #4).
      assert.strictEqual(
        yield* refusal(file("ec.crt"), file("a-with-certificate.key")),
        "Failed to get SSL Certificate: WORKER_TLS_CERT/WORKER_TLS_KEY: the key does not match the certificate (a key of type rsa for a certificate of type ec)"
      )
      const { cert } = yield* readTls({ tlsCertFile: file("ec.crt"), tlsKeyFile: file("ec.key") })
      assert.deepStrictEqual(cert, readFileSync(file("ec.crt")))
    })
  )

  describe("a certificate out of its dates is served, with a warning saying when (probe 55 #4: an expired one was served unsaid)", () => {
    const warnings = (at: number) => {
      const logs = capturedLogs()
      return Effect.gen(function* () {
        yield* TestClock.setTime(at)
        yield* readTls({ tlsCertFile: file("a.crt"), tlsKeyFile: file("a.key") })
        return logs.lines.filter((line) => line.level === "WARN").map((line) => String(line.message[0]))
      }).pipe(Effect.provide(logs.layer))
    }
    const dates = () => {
      const leaf = new X509Certificate(readFileSync(file("a.crt")))
      return { from: Date.parse(leaf.validFrom), to: Date.parse(leaf.validTo) }
    }

    it.effect("within its dates: nothing said", () => Effect.map(warnings(dates().from + 1000), (said) => assert.deepStrictEqual(said, [])))

    it.effect("past its end: expired, on which day", () =>
      Effect.map(warnings(dates().to + 1000), (said) =>
        assert.deepStrictEqual(said, [
          `WORKER_TLS_CERT expired on ${new Date(dates().to).toISOString()}: it is served as it is, and a client that verifies it (the Vast SDK, the client with --ca-file) refuses every handshake`
        ])
      )
    )

    it.effect("before its start: not valid yet, from when", () =>
      Effect.map(warnings(dates().from - 1000), (said) => assert.deepStrictEqual(said.map((line) => line.split(":")[0]), [`WORKER_TLS_CERT is not valid before ${new Date(dates().from).toISOString().split(":")[0]}`]))
    )
  })

  it.effect("a missing file names its variable", () =>
    Effect.gen(function* () {
      assert.match(yield* refusal(file("a.crt"), file("missing.key")), /^Failed to get SSL Certificate: WORKER_TLS_KEY: ENOENT: /)
    })
  )
})
