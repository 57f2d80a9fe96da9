import { assert, describe, it } from "@effect/vitest"
import { HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import { Cause, Clock, Context, type Duration, Effect, Either, Exit, Fiber, Layer, Logger, Option, Ref, Scope, TestClock } from "effect"
import { generateKeyPairSync, randomBytes, sign } from "node:crypto"
import { decodeBase64Lenient, KEY_RECHECK_MS, PREVIOUS_KEY_GRACE_MS, SignatureVerifier } from "../../../src/worker/auth/SignatureVerifier.js"
import { signedMessage } from "../../../src/protocol/signedMessage.js"
import { SignatureInvalid } from "../../../src/worker/errors.js"
import type { AuthData } from "../../../src/protocol/session.js"

const PUBKEY_URL = "https://run.vast.ai/pubkey/"
const URL_A = "https://203.0.113.7:41234"

const keys = generateKeyPairSync("rsa", { modulusLength: 2048 })
const otherKeys = generateKeyPairSync("rsa", { modulusLength: 2048 })
const spkiPem = keys.publicKey.export({ type: "spki", format: "pem" }).toString()
const pkcs1Pem = keys.publicKey.export({ type: "pkcs1", format: "pem" }).toString()
const ecPem = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey.export({ type: "spki", format: "pem" }).toString()
const smallRsaPem = generateKeyPairSync("rsa", { modulusLength: 512 }).publicKey.export({ type: "spki", format: "pem" }).toString()

const signUrl = (url: string, privateKey = keys.privateKey): string =>
  sign("sha256", Buffer.from(signedMessage(url), "utf8"), privateKey).toString("base64")

const authData = (url: string, signature: string): AuthData => ({
  url,
  signature,
  reqnum: 917,
  request_idx: 4242,
  endpoint: "my-null-endpoint",
  cost: 100
})

/** One scripted answer of the key server: a status with a body, a transport failure, or no answer at all. */
type KeyAnswer = { readonly status: number; readonly body: string; readonly location?: string } | "network-error" | "hang" | "trickle"
const ok = (body: string): KeyAnswer => ({ status: 200, body })
const status = (code: number): KeyAnswer => ({ status: code, body: "" })

interface KeyRequest {
  readonly at: number
  readonly method: string
  readonly url: string
}

/** A verifier built in `scope` over a scripted key server (the last answer repeats), with the requests it saw. */
const verifierWith = (script: ReadonlyArray<KeyAnswer>, scope: Scope.Scope, answerAfterScript?: () => KeyAnswer) =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<ReadonlyArray<KeyRequest>>([])
    const client = HttpClient.make((request, url) =>
      Effect.gen(function* () {
        const at = yield* Clock.currentTimeMillis
        const count = (yield* Ref.getAndUpdate(seen, (all) => [...all, { at, method: request.method, url: url.toString() }]))
          .length
        const answer = (count >= script.length && answerAfterScript !== undefined ? answerAfterScript() : script[Math.min(count, script.length - 1)]) ?? "hang"
        if (answer === "hang") return yield* Effect.never
        // A 200 whose body starts and never ends.
        if (answer === "trickle") {
          const body = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(new TextEncoder().encode("-----BEGIN")) })
          return HttpClientResponse.fromWeb(request, new Response(body, { status: 200 }))
        }
        if (answer === "network-error") {
          return yield* new HttpClientError.RequestError({ request, reason: "Transport", description: "connection refused" })
        }
        const headers = answer.location === undefined ? undefined : { location: answer.location }
        return HttpClientResponse.fromWeb(request, new Response(answer.body, { status: answer.status, ...(headers === undefined ? {} : { headers }) }))
      })
    )
    const layer = SignatureVerifier.layer({ pubkeyUrl: PUBKEY_URL }).pipe(
      Layer.provide(Layer.succeed(HttpClient.HttpClient, client))
    )
    const context = yield* Layer.buildWithScope(layer, scope)
    return { verifier: Context.get(context, SignatureVerifier), seen }
  })

const attemptTimes = (seen: Ref.Ref<ReadonlyArray<KeyRequest>>) =>
  Effect.map(Ref.get(seen), (all) => all.map((request) => request.at))

/** Let forked fibers (and a response body's promise) run, without moving the clock. */
const flush = Effect.gen(function* () {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
})

/** `flush` until `fiber` has ended, then its exit; fails the test if it does not end without the clock moving. */
const exitOf = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 20; i++) {
      const exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) return exit.value
      yield* flush
    }
    return assert.fail("the fiber did not end")
  })

const isPending = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.map(Fiber.poll(fiber), Option.isNone)

/** The clock moved through the fetch's back-off `sleeps`: not ready after any but the last, ready after it. */
const readyAfterSleeps = (verifier: Context.Tag.Service<SignatureVerifier>, sleeps: ReadonlyArray<Duration.DurationInput>) =>
  Effect.gen(function* () {
    const ready = yield* Effect.fork(verifier.ready)
    yield* flush
    for (const [index, sleep] of sleeps.entries()) {
      yield* TestClock.adjust(sleep)
      if (index === sleeps.length - 1) break
      yield* flush
      assert.isTrue(yield* isPending(ready), `not ready after sleep ${index + 1}`)
    }
    assert.isTrue(Exit.isSuccess(yield* exitOf(ready)))
  })

/** Log lines (`LEVEL message`) written while `effect` runs, forked fibers included. */
const withLogs = <A, E, R>(body: (lines: ReadonlyArray<string>) => Effect.Effect<A, E, R>) => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
  })
  return body(lines).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
}

/** The failure of `exit`, if it failed (and was not a defect or an interruption). */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): Option.Option<E> =>
  Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()

/** Whether `verify` refused `data` with SignatureInvalid. */
const invalid = (verifier: Context.Tag.Service<SignatureVerifier>, data: AuthData) =>
  Effect.map(Effect.exit(verifier.verify(data)), (exit) =>
    Option.match(failureOf(exit), { onNone: () => false, onSome: (error) => error instanceof SignatureInvalid })
  )

/** A verifier whose key (SPKI) is loaded. */
const loadedVerifier = Effect.gen(function* () {
  const { verifier } = yield* verifierWith([ok(spkiPem)], yield* Effect.scope)
  const ready = yield* Effect.fork(verifier.ready)
  assert.isTrue(Exit.isSuccess(yield* exitOf(ready)))
  return verifier
})

describe("decodeBase64Lenient", () => {
  it("matches Python 3.11 base64.b64decode (outputs recorded from Python)", () => {
    const cases: ReadonlyArray<readonly [string, string | null]> = [
      ["QUJD", "414243"],
      ["QUI=", "4142"],
      ["QQ==", "41"],
      ["", ""],
      ["A B\nC D", "001083"],
      ["QQ==garbage", "41"],
      ["=QQ==", "41"],
      ["QQ=\n=", "41"],
      ["QUJ=D", "4142"],
      ["QUI=x", "4142"],
      ["Q=Q==", "41"],
      ["QU=I=", "4142"],
      ["QQ=x=", "410c"],
      ["ab=c=d", "69b7"],
      ["QQ=", null],
      ["QQ", null],
      ["QUI", null],
      ["Q", null],
      ["Q===", null],
      ["QQ==\u00e9", null]
    ]
    for (const [text, hex] of cases) {
      for (const maxBytes of [undefined, 3]) {
        const bytes = decodeBase64Lenient(text, maxBytes)
        assert.strictEqual(bytes === undefined ? null : Buffer.from(bytes).toString("hex"), hex, `${JSON.stringify(text)} at most ${maxBytes}`)
      }
    }
  })

  it("stops at the first byte past maxBytes: a signature longer than the key can never verify", () => {
    const signature = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const text = signature.toString("base64")
    assert.deepStrictEqual(Buffer.from(decodeBase64Lenient(text, 256) ?? []), signature)
    assert.isUndefined(decodeBase64Lenient(text, 255))
    assert.isUndefined(decodeBase64Lenient(`${text.replace(/=+$/, "")}AAAA`, 256))
    // Skipped characters and a complete padding do not count.
    assert.deepStrictEqual(Buffer.from(decodeBase64Lenient(`${text.replace(/(.{64})/g, "$1 \n")}==AAAA`, 256) ?? []), signature)
    assert.isUndefined(decodeBase64Lenient("A".repeat(1_000_000), 256))
  })
})

describe("SignatureVerifier.verify", () => {
  it.scoped("accepts a valid signature over the url", () =>
    Effect.gen(function* () {
      const verifier = yield* loadedVerifier
      yield* verifier.verify(authData(URL_A, signUrl(URL_A)))
      const unicodeUrl = "https://h\u00e9\u20ac\u{1F600}.example/\"q\"\\"
      yield* verifier.verify(authData(unicodeUrl, signUrl(unicodeUrl)))
    })
  )

  it.scoped("keeps Python's leniency for a real signature, and refuses one longer than the key's modulus", () =>
    Effect.gen(function* () {
      const verifier = yield* loadedVerifier
      const signature = signUrl(URL_A)
      yield* verifier.verify(authData(URL_A, `${signature.slice(0, 40)}\n ${signature.slice(40)}${" ".repeat(10_000)}`))
      assert.isTrue(yield* invalid(verifier, authData(URL_A, `${signature.replace(/=+$/, "")}AAAA`)))
      assert.isTrue(yield* invalid(verifier, authData(URL_A, "A".repeat(900_000))))
    })
  )

  it.scoped("rejects a signature over another url, or by another key", () =>
    Effect.gen(function* () {
      const verifier = yield* loadedVerifier
      assert.isTrue(yield* invalid(verifier, authData(URL_A, signUrl("https://203.0.113.7:41235"))))
      assert.isTrue(yield* invalid(verifier, authData(`${URL_A}/`, signUrl(URL_A))))
      assert.isTrue(yield* invalid(verifier, authData(URL_A, signUrl(URL_A, otherKeys.privateKey))))
    })
  )

  it.scoped("rejects malformed signatures without throwing", () =>
    Effect.gen(function* () {
      const verifier = yield* loadedVerifier
      const good = signUrl(URL_A)
      assert.isTrue(good.endsWith("=="))
      const malformed = [
        "",
        "!!!!",
        "not base64 at all",
        good.slice(0, -1),
        good.slice(0, -2),
        good.slice(1),
        `${good.slice(0, 10)}\u00e9${good.slice(10)}`,
        randomBytes(256).toString("base64"),
        randomBytes(16).toString("base64"),
        Buffer.concat([Buffer.from(good, "base64"), Buffer.from([0])]).toString("base64")
      ]
      for (const signature of malformed) {
        assert.isTrue(yield* invalid(verifier, authData(URL_A, signature)), JSON.stringify(signature))
      }
    })
  )

  it.scoped("decodes base64 leniently, as Python does: stray characters are skipped, text after padding ignored", () =>
    Effect.gen(function* () {
      const verifier = yield* loadedVerifier
      const good = signUrl(URL_A)
      const wrapped = (good.match(/.{1,64}/g) ?? []).join("\n")
      assert.notStrictEqual(wrapped, good)
      yield* verifier.verify(authData(URL_A, wrapped))
      yield* verifier.verify(authData(URL_A, ` *${good.slice(0, 100)}\r\n-_.${good.slice(100)} `))
      yield* verifier.verify(authData(URL_A, `${good}garbage`))
    })
  )
})

describe("SignatureVerifier.layer key fetch", () => {
  for (const [format, pem] of [["SPKI", spkiPem], ["PKCS#1", pkcs1Pem]] as const) {
    it.scoped(`loads a ${format} PEM key on the first attempt`, () =>
      Effect.gen(function* () {
        assert.include(pem, format === "SPKI" ? "BEGIN PUBLIC KEY" : "BEGIN RSA PUBLIC KEY")
        const { verifier, seen } = yield* verifierWith([ok(pem)], yield* Effect.scope)
        const first = yield* Effect.fork(verifier.ready)
        const second = yield* Effect.fork(verifier.ready)
        assert.isTrue(Exit.isSuccess(yield* exitOf(first)))
        assert.isTrue(Exit.isSuccess(yield* exitOf(second)))
        yield* verifier.ready
        assert.deepStrictEqual(yield* Ref.get(seen), [{ at: 0, method: "GET", url: PUBKEY_URL }])
        yield* verifier.verify(authData(URL_A, signUrl(URL_A)))
        yield* TestClock.adjust("1 minute")
        assert.strictEqual((yield* Ref.get(seen)).length, 1)
      })
    )
  }

  it.scoped("several REPORT_ADDR addresses: each in turn within one attempt, as the reports fail over, later ones from the address that served the key; a failed attempt names each address's reason", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const first = "http://10.0.0.1:9/pubkey/"
        const second = "https://user:s3cret@run.vast.ai/pubkey/?token=t0ken"
        const seen: Array<string> = []
        // The first never serves the key; the second refuses the first attempt, then serves it.
        let secondAnswers = 0
        const client = HttpClient.make((request, url) =>
          Effect.suspend(() => {
            seen.push(url.toString())
            if (url.toString() === first) return Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", description: "connection refused" }))
            secondAnswers++
            return Effect.succeed(HttpClientResponse.fromWeb(request, secondAnswers === 1 ? new Response("", { status: 404 }) : new Response(spkiPem)))
          })
        )
        const layer = SignatureVerifier.layer({ pubkeyUrl: [first, second] }).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, client)))
        const verifier = Context.get(yield* Layer.buildWithScope(layer, yield* Effect.scope), SignatureVerifier)
        yield* readyAfterSleeps(verifier, ["1 second"])
        assert.deepStrictEqual(seen, [first, second, first, second])
        yield* verifier.verify(authData(URL_A, signUrl(URL_A)))
        // A refused signature's check (a minute on) starts at the address that served the key: a dead or hung first
        // address would cost every check its timeout.
        yield* TestClock.adjust("1 minute")
        assert.isTrue(yield* invalid(verifier, authData(URL_A, signUrl("https://198.51.100.1:1"))))
        yield* flush
        assert.deepStrictEqual(seen, [first, second, first, second, second])
        assert.deepStrictEqual(
          logs.filter((line) => line.includes("fetch attempt")),
          ["WARN Serverless public key fetch attempt 1 failed: http://10.0.0.1:9/pubkey/: Transport error: connection refused; https://run.vast.ai/pubkey/?…: status 404; trying again"]
        )
        assert.notInclude(logs.join("\n"), "s3cret")
      })
    )
  )

  it.scoped("retries after 1 s then 2 s: a non-2xx status and a transport error are failed attempts", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const script = [{ status: 404, body: spkiPem }, "network-error", ok(spkiPem)] as const
        const { verifier, seen } = yield* verifierWith(script, yield* Effect.scope)
        const ready = yield* Effect.fork(verifier.ready)
        yield* flush
        assert.deepStrictEqual(yield* attemptTimes(seen), [0])
        assert.isTrue(yield* invalid(verifier, authData(URL_A, signUrl(URL_A))))
        yield* TestClock.adjust("999 millis")
        assert.deepStrictEqual(yield* attemptTimes(seen), [0])
        yield* TestClock.adjust("1 millis")
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000])
        yield* flush
        yield* TestClock.adjust("1999 millis")
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000])
        assert.isTrue(yield* isPending(ready))
        yield* TestClock.adjust("1 millis")
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000, 3000])
        assert.isTrue(Exit.isSuccess(yield* exitOf(ready)))
        yield* verifier.verify(authData(URL_A, signUrl(URL_A)))
        yield* TestClock.adjust("1 minute")
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000, 3000])
        assert.deepStrictEqual(
          logs.filter((line) => line.startsWith("WARN")),
          [
            "WARN Serverless public key fetch attempt 1 failed: status 404; trying again",
            "WARN Serverless public key fetch attempt 2 failed: Transport error: connection refused; trying again"
          ]
        )
      })
    )
  )

  it.scoped("never gives up: 1, 2, 4, 8, 16 s, then every 30 s; the key loads once the autoscaler heals, and readiness follows", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        let healed = false
        const { verifier, seen } = yield* verifierWith([status(503)], yield* Effect.scope, () => (healed ? ok(spkiPem) : status(503)))
        const ready = yield* Effect.fork(verifier.ready)
        yield* flush
        yield* TestClock.adjust("91 seconds")
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000, 3000, 7000, 15000, 31000, 61000, 91000])
        assert.isTrue(yield* isPending(ready))
        assert.isTrue(yield* invalid(verifier, authData(URL_A, signUrl(URL_A))))
        // Every failure of the first five is logged, then about one a minute.
        assert.strictEqual(logs.filter((line) => line.startsWith("WARN")).length, 7)
        healed = true
        yield* TestClock.adjust("30 seconds")
        assert.isTrue(Exit.isSuccess(yield* exitOf(ready)))
        yield* verifier.verify(authData(URL_A, signUrl(URL_A)))
        assert.strictEqual(yield* Clock.currentTimeMillis, 121000)
        assert.isFalse(logs.some((line) => line.startsWith("ERROR")))
      })
    )
  )

  it.scoped("follows redirects as the framework's aiohttp GET does (at most 10, resolved against the URL that gave them); more, or a Location that cannot be followed, is a failed attempt", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const moved = (location: string): KeyAnswer => ({ status: 301, body: "", location })
        const script = [
          // Attempt 1: eleven redirects, one more than followed.
          ...Array.from({ length: 11 }, (_, hop) => moved(`/hop/${hop}`)),
          // Attempt 2: a Location that is no URL.
          moved("http://["),
          // Attempt 3: 302 to a path, then 307 to another host, which has the key.
          { status: 302, body: "", location: "../keys/current" },
          { status: 307, body: "", location: "https://keys.vast.example/pem" },
          ok(spkiPem)
        ]
        const { verifier, seen } = yield* verifierWith(script, yield* Effect.scope)
        yield* readyAfterSleeps(verifier, ["1 second", "2 seconds"])
        yield* verifier.verify(authData(URL_A, signUrl(URL_A)))
        const urls = (yield* Ref.get(seen)).map((request) => `${request.at} ${request.method} ${request.url}`)
        assert.deepStrictEqual(urls, [
          `0 GET ${PUBKEY_URL}`,
          ...Array.from({ length: 10 }, (_, hop) => `0 GET https://run.vast.ai/hop/${hop}`),
          `1000 GET ${PUBKEY_URL}`,
          `3000 GET ${PUBKEY_URL}`,
          "3000 GET https://run.vast.ai/keys/current",
          "3000 GET https://keys.vast.example/pem"
        ])
        const warnings = logs.filter((line) => line.startsWith("WARN"))
        assert.deepStrictEqual(warnings[0], "WARN Serverless public key fetch attempt 1 failed: status 301; trying again")
        assert.match(warnings[1] ?? "", /^WARN Serverless public key fetch attempt 2 failed: the fetch failed: .*Invalid URL.*; trying again$/)
        assert.lengthOf(warnings, 2)
      })
    )
  )

  it.scoped("a 3xx that aiohttp does not follow (a 300) is the answer, with its Location: a failed attempt", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const { verifier, seen } = yield* verifierWith([{ status: 300, body: "", location: "/keys" }, ok(spkiPem)], yield* Effect.scope)
        yield* readyAfterSleeps(verifier, ["1 second"])
        assert.deepStrictEqual((yield* Ref.get(seen)).map((request) => request.url), [PUBKEY_URL, PUBKEY_URL])
        assert.deepStrictEqual(logs.filter((line) => line.startsWith("WARN")), ["WARN Serverless public key fetch attempt 1 failed: status 300; trying again"])
      })
    )
  )

  it.scoped("a 200 whose body is not one RSA public key of at least 1024 bits is a failed attempt (two keys in one body too: probe 52 I5)", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const script = [ok("<html>maintenance</html>"), ok(ecPem), ok(smallRsaPem), ok(`${spkiPem}${ecPem}`), ok(spkiPem)]
        const { verifier, seen } = yield* verifierWith(script, yield* Effect.scope)
        yield* readyAfterSleeps(verifier, ["1 second", "2 seconds", "4 seconds", "8 seconds"])
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000, 3000, 7000, 15000])
        yield* verifier.verify(authData(URL_A, signUrl(URL_A)))
        assert.deepStrictEqual(
          logs.filter((line) => line.startsWith("WARN")),
          [
            "WARN Serverless public key fetch attempt 1 failed: the body is not a PEM public key; trying again",
            "WARN Serverless public key fetch attempt 2 failed: the key is ec, not RSA; trying again",
            "WARN Serverless public key fetch attempt 3 failed: the key is RSA-512, under 1024 bits; trying again",
            "WARN Serverless public key fetch attempt 4 failed: the body holds 2 PEM blocks, not one key; trying again"
          ]
        )
      })
    )
  )

  it.scoped("an RSA key of exactly 1024 bits is taken at the first attempt, and verifies its signatures (review 43 L6c)", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const smallest = generateKeyPairSync("rsa", { modulusLength: 1024 })
        const pem = smallest.publicKey.export({ type: "spki", format: "pem" }).toString()
        const { verifier, seen } = yield* verifierWith([ok(pem)], yield* Effect.scope)
        yield* verifier.ready
        assert.deepStrictEqual(yield* attemptTimes(seen), [0])
        yield* verifier.verify(authData(URL_A, signUrl(URL_A, smallest.privateKey)))
        assert.deepStrictEqual(logs.filter((line) => line.startsWith("WARN")), [])
      })
    )
  )

  it.scoped("an attempt without an answer times out after 10 s; verify refuses until the key arrives", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const { verifier, seen } = yield* verifierWith(["hang", ok(spkiPem)], yield* Effect.scope)
        const ready = yield* Effect.fork(verifier.ready)
        yield* flush
        assert.isTrue(yield* invalid(verifier, authData(URL_A, signUrl(URL_A))))
        yield* TestClock.adjust("10999 millis")
        assert.deepStrictEqual(yield* attemptTimes(seen), [0])
        assert.isTrue(yield* invalid(verifier, authData(URL_A, signUrl(URL_A))))
        yield* TestClock.adjust("1 millis")
        assert.isTrue(Exit.isSuccess(yield* exitOf(ready)))
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, 11000])
        yield* verifier.verify(authData(URL_A, signUrl(URL_A)))
      })
    )
  )

  it.scoped("an answer whose body does not end within 10 s is said as such, not as no answer (probe 50 I3)", () =>
    withLogs((lines) =>
      Effect.gen(function* () {
        const { verifier } = yield* verifierWith(["trickle", "hang", ok(spkiPem)], yield* Effect.scope)
        const ready = yield* Effect.fork(verifier.ready)
        yield* flush
        yield* TestClock.adjust("10 seconds")
        yield* flush
        yield* TestClock.adjust("11 seconds")
        yield* flush
        const reasons = lines.filter((line) => line.includes("within 10s")).map((line) => /(its answer did not end|no answer) within 10s/.exec(line)?.[1])
        assert.deepStrictEqual(reasons, ["its answer did not end", "no answer"])
        yield* TestClock.adjust("2 seconds")
        assert.isTrue(Exit.isSuccess(yield* exitOf(ready)))
      })
    )
  )

  it.scoped("stops fetching when its scope closes", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const { verifier, seen } = yield* verifierWith([status(500)], scope)
        const ready = yield* Effect.fork(verifier.ready)
        yield* flush
        assert.deepStrictEqual(yield* attemptTimes(seen), [0])
        yield* Scope.close(scope, Exit.void)
        yield* TestClock.adjust("1 minute")
        assert.deepStrictEqual(yield* attemptTimes(seen), [0])
        assert.isTrue(Exit.isInterrupted(yield* exitOf(ready)))
      })
    )
  )
})

describe("SignatureVerifier after a key rotation", () => {
  const thirdKeys = generateKeyPairSync("rsa", { modulusLength: 2048 })
  const pemOf = (pair: typeof keys) => pair.publicKey.export({ type: "spki", format: "pem" }).toString()
  const signedBy = (pair: typeof keys) => authData(URL_A, signUrl(URL_A, pair.privateKey))

  it.scoped("a refused signature fetches the key again, at most once every 5 s; a new key is taken and the one before it kept, an older one dropped", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        // Loaded: A. The checks find B (a rotation), then B again, then C.
        const script = [ok(pemOf(keys)), ok(pemOf(otherKeys)), ok(pemOf(otherKeys)), ok(pemOf(thirdKeys))]
        const { verifier, seen } = yield* verifierWith(script, yield* Effect.scope)
        yield* readyAfterSleeps(verifier, [0])
        // Within 5 s of the fetch, a refusal starts no check.
        yield* TestClock.adjust(`${KEY_RECHECK_MS - 1} millis`)
        assert.isTrue(yield* invalid(verifier, signedBy(otherKeys)))
        yield* flush
        assert.deepStrictEqual(yield* attemptTimes(seen), [0])
        // The refusal inside the hold-off is owed a check: it runs at the hold-off's end, and finds B (probe 51 L3).
        yield* TestClock.adjust("1 millis")
        yield* flush
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, KEY_RECHECK_MS])
        yield* verifier.verify(signedBy(otherKeys))
        yield* verifier.verify(signedBy(keys))
        assert.isTrue(yield* invalid(verifier, signedBy(thirdKeys)))
        yield* flush
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, KEY_RECHECK_MS], "5 s since the last fetch have not passed")
        // The same key again: nothing changes.
        yield* TestClock.adjust(`${KEY_RECHECK_MS} millis`)
        assert.isTrue(yield* invalid(verifier, signedBy(thirdKeys)))
        yield* flush
        yield* verifier.verifyInSession(signedBy(keys))
        // C, found by the check the last refusal is owed: taken, B kept, A dropped.
        yield* TestClock.adjust(`${KEY_RECHECK_MS} millis`)
        yield* flush
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, KEY_RECHECK_MS, 2 * KEY_RECHECK_MS, 3 * KEY_RECHECK_MS])
        yield* verifier.verify(signedBy(thirdKeys))
        yield* verifier.verify(signedBy(otherKeys))
        assert.isTrue(yield* invalid(verifier, signedBy(keys)))
        assert.isTrue(Either.isLeft(verifier.verifyInSession(signedBy(keys))), "dropped for the sessions it opened too")
        assert.deepStrictEqual(
          logs.filter((line) => line.includes("public key changed")),
          Array(2).fill(
            "INFO Serverless public key changed: signatures by the new key are accepted; by the previous one, creates for 60 s more, and requests inside the sessions it opened while it is kept"
          )
        )
      })
    )
  )

  it.scoped("a refused signature that anyone can send (no key needed) just before a rotation holds the new key back 5 s at most, not a minute (probe 37 L1), and with no other request needed (probe 51 L3)", () =>
    Effect.gen(function* () {
      // Loaded: A. The check the garbage starts finds A still; the rotation to B follows it.
      const { verifier, seen } = yield* verifierWith([ok(pemOf(keys)), ok(pemOf(keys)), ok(pemOf(otherKeys))], yield* Effect.scope)
      yield* readyAfterSleeps(verifier, [0])
      yield* TestClock.adjust("1 minute")
      assert.isTrue(yield* invalid(verifier, authData(URL_A, "x")))
      yield* flush
      yield* TestClock.adjust("1 second")
      assert.isTrue(yield* invalid(verifier, signedBy(otherKeys)), "within 5 s of the garbage's check: refused, no check")
      yield* flush
      // The check that refusal is owed runs at the hold-off's end, with no other request needed (probe 51 L3).
      yield* TestClock.adjust("4 seconds")
      yield* flush
      yield* verifier.verify(signedBy(otherKeys))
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 60_000, 65_000])
    })
  )

  it.scoped("one check at a time: a refusal while a check hangs starts no second fetch; the check it is owed follows the hung one (review 56 I3)", () =>
    Effect.gen(function* () {
      const { verifier, seen } = yield* verifierWith([ok(pemOf(keys)), "hang", ok(pemOf(otherKeys))], yield* Effect.scope)
      yield* readyAfterSleeps(verifier, [0])
      yield* TestClock.adjust("1 minute")
      assert.isTrue(yield* invalid(verifier, signedBy(otherKeys)))
      yield* flush
      // 6 s on, past the hold-off, the check still hangs: another refusal waits for it.
      yield* TestClock.adjust("6 seconds")
      assert.isTrue(yield* invalid(verifier, signedBy(otherKeys)))
      yield* flush
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 60_000])
      // The hung check gives up at 10 s; the owed one runs then, and finds B.
      yield* TestClock.adjust("4 seconds")
      yield* flush
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 60_000, 70_000])
      yield* verifier.verify(signedBy(otherKeys))
    })
  )

  it.scoped("a flood of refusals inside the hold-off waits with one timer, not one each, and is owed one fetch (review 57 I7)", () =>
    Effect.gen(function* () {
      const { verifier, seen } = yield* verifierWith([ok(pemOf(keys)), ok(pemOf(keys)), ok(pemOf(otherKeys))], yield* Effect.scope)
      yield* readyAfterSleeps(verifier, [0])
      yield* TestClock.adjust("1 minute")
      assert.isTrue(yield* invalid(verifier, signedBy(otherKeys)))
      yield* flush
      const timersBefore = (yield* TestClock.sleeps()).length
      for (let i = 0; i < 1000; i++) assert.isTrue(yield* invalid(verifier, signedBy(otherKeys)))
      yield* flush
      assert.strictEqual((yield* TestClock.sleeps()).length, timersBefore + 1, "one timer for the whole flood")
      yield* TestClock.adjust(`${KEY_RECHECK_MS} millis`)
      yield* flush
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 60_000, 60_000 + KEY_RECHECK_MS])
      yield* verifier.verify(signedBy(otherKeys))
    })
  )

  it.scoped("the key a rotation replaced opens nothing a minute after the rotation is seen, but still counts inside a session", () =>
    Effect.gen(function* () {
      const { verifier } = yield* verifierWith([ok(pemOf(keys)), ok(pemOf(otherKeys))], yield* Effect.scope)
      yield* readyAfterSleeps(verifier, [0])
      yield* TestClock.adjust("1 minute")
      assert.isTrue(yield* invalid(verifier, signedBy(otherKeys)))
      yield* flush
      // Seen at 60 s: A still opens sessions until 120 s (a route answer signed before the rotation, still on its way).
      yield* TestClock.adjust(`${PREVIOUS_KEY_GRACE_MS - 1} millis`)
      yield* verifier.verify(signedBy(keys))
      yield* TestClock.adjust("1 millis")
      assert.isTrue(yield* invalid(verifier, signedBy(keys)))
      yield* verifier.verifyInSession(signedBy(keys))
      yield* verifier.verify(signedBy(otherKeys))
      yield* verifier.verifyInSession(signedBy(otherKeys))
      assert.isTrue(Either.isLeft(verifier.verifyInSession(signedBy(thirdKeys))), "a key never served is refused everywhere")
      yield* TestClock.adjust("1 hour")
      yield* verifier.verifyInSession(signedBy(keys))
    })
  )

  it.scoped("a check that fails keeps the loaded key, says so, and the next is 5 s later", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const { verifier, seen } = yield* verifierWith([ok(spkiPem), status(503), ok(pemOf(otherKeys))], yield* Effect.scope)
        yield* readyAfterSleeps(verifier, [0])
        yield* TestClock.adjust("1 minute")
        assert.isTrue(yield* invalid(verifier, signedBy(otherKeys)))
        yield* flush
        yield* verifier.verify(signedBy(keys))
        assert.deepStrictEqual(logs.filter((line) => line.startsWith("WARN")), ["WARN Serverless public key check after a refused signature failed: status 503; the loaded key stays"])
        yield* TestClock.adjust(`${KEY_RECHECK_MS - 1} millis`)
        assert.isTrue(yield* invalid(verifier, signedBy(otherKeys)))
        yield* flush
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, 60_000])
        // The refusal inside the hold-off is owed the next check, at its end.
        yield* TestClock.adjust("1 millis")
        yield* flush
        assert.deepStrictEqual(yield* attemptTimes(seen), [0, 60_000, 60_000 + KEY_RECHECK_MS])
        yield* verifier.verify(signedBy(otherKeys))
      })
    )
  )
})

describe("SignatureVerifier.layerUnsecured", () => {
  it.effect("is ready at once and accepts any signature", () =>
    Effect.gen(function* () {
      const verifier = yield* SignatureVerifier
      yield* verifier.ready
      yield* verifier.verify(authData(URL_A, ""))
      yield* verifier.verify(authData(URL_A, "not base64 at all"))
      yield* verifier.verify(authData(URL_A, signUrl("https://elsewhere.example")))
    }).pipe(Effect.provide(SignatureVerifier.layerUnsecured))
  )
})
