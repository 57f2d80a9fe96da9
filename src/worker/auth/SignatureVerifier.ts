/**
 * Proof that a request came through the autoscaler: `auth_data.signature` over `auth_data.url`.
 * Checked on handler routes such as `/ping`.
 *
 * The key is fetched until it loads, and again after a signature the loaded keys refuse (at most once every 5 s): the
 * framework fetches it once, so a rotated key leaves its workers refusing every signed request until they restart.
 * The key a rotation replaced opens no session a minute after the rotation is seen, as a key rotated because it leaked
 * must not; the sessions it opened keep their pings.
 */
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { Context, Data, Deferred, Duration, Effect, Either, FiberSet, Layer, Ref, Schedule } from "effect"
import { constants, createPublicKey, type KeyObject, verify as cryptoVerify } from "node:crypto"
import { boundedText } from "../../shared/boundedBody.js"
import { describeDefect } from "../../shared/causeLine.js"
import { errnoOf } from "../../shared/errno.js"
import { getFollowingRedirects } from "../../shared/getFollowingRedirects.js"
import { unsafeMonotonicMillis } from "../../shared/monotonic.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { refusals, type SignatureInvalid } from "../errors.js"
import { signedMessage } from "../../protocol/signedMessage.js"
import { autoscalerUrl } from "../autoscaler/autoscalerUrl.js"
import { redactUrl } from "../../shared/redactUrl.js"

/** What a signature covers and carries: `auth_data.url` and `auth_data.signature`. */
export interface SignedFields {
  readonly url: string
  readonly signature: string
}

export interface PublicKeyFetchPolicy {
  /** Sleep after the first failed attempt; each later sleep doubles, up to `maxRetryDelay`. */
  readonly firstRetryDelay: Duration.DurationInput
  readonly maxRetryDelay: Duration.DurationInput
  /** Time allowed for one address within an attempt, body included (an attempt tries each `REPORT_ADDR` in turn). */
  readonly attemptTimeout: Duration.DurationInput
}

/**
 * The framework's first attempts (sleeping 1, 2, 4, 8 s between them, 10 s each), then every 30 s for as
 * long as it takes: the framework gives up after 5 attempts and leaves the worker refusing every signed
 * request for good, even after the autoscaler heals.
 */
export const defaultPublicKeyFetchPolicy: PublicKeyFetchPolicy = {
  firstRetryDelay: "1 second",
  maxRetryDelay: "30 seconds",
  attemptTimeout: "10 seconds"
}

export class SignatureVerifier extends Context.Tag("app/SignatureVerifier")<
  SignatureVerifier,
  {
    /**
     * Succeeds when authData.signature is a valid autoscaler signature over authData.url, by the current key (or by the
     * one it replaced, within a minute of the replacement): for a request that opens something, a create or a ping
     * outside a session.
     */
    readonly verify: (authData: SignedFields) => Either.Either<void, SignatureInvalid>
    /**
     * The same for a request inside a session, whose `auth_data` the pool then matches with the one its create
     * verified: the key that verified that create counts for as long as it is kept (sessions outlive a rotation).
     */
    readonly verifyInSession: (authData: SignedFields) => Either.Either<void, SignatureInvalid>
    /** Completes once the public key is loaded (at once when unsecured). Can be awaited by many fibers, any number of times. */
    readonly ready: Effect.Effect<void>
  }
>() {
  /**
   * Fetches the RSA public key from `pubkeyUrl` (`<REPORT_ADDR>/pubkey/`; with several, each in turn until one
   * answers, as the reports fail over) in the background, with back-off, until it loads; until then `verify`
   * refuses everything.
   */
  static readonly layer = (
    options: { readonly pubkeyUrl: string | ReadonlyArray<string> } & Partial<PublicKeyFetchPolicy>
  ): Layer.Layer<SignatureVerifier, never, HttpClient.HttpClient> =>
    Layer.scoped(
      SignatureVerifier,
      make(typeof options.pubkeyUrl === "string" ? [options.pubkeyUrl] : options.pubkeyUrl, { ...defaultPublicKeyFetchPolicy, ...options })
    )

  /** By the configuration: `UNSECURED=true` accepts everything; otherwise the key comes from the `REPORT_ADDR` addresses, in order. */
  static readonly layerFromConfig: Layer.Layer<SignatureVerifier, never, HttpClient.HttpClient | WorkerConfig> = Layer.unwrapEffect(
    Effect.map(WorkerConfig, (config) =>
      config.unsecured
        ? SignatureVerifier.layerUnsecured
        : SignatureVerifier.layer({ pubkeyUrl: config.reportAddrs.map((address) => autoscalerUrl(address, "/pubkey/")) })
    )
  )

  /** Accepts every request: the behaviour of `UNSECURED=true`. */
  static readonly layerUnsecured = Layer.succeed(
    SignatureVerifier,
    SignatureVerifier.of({ verify: () => Either.void, verifyInSession: () => Either.void, ready: Effect.void })
  )
}

class AttemptFailed extends Data.TaggedError("AttemptFailed")<{ readonly reason: string }> {}

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
const BASE64_PAD = 0x3d
/** Each ASCII code's value in the alphabet, -1 for the characters Python skips. */
const BASE64_VALUES = Int8Array.from({ length: 128 }, (_, code) => BASE64_ALPHABET.indexOf(String.fromCharCode(code)))

/**
 * Python's `base64.b64decode(text)` (CPython ≥ 3.11 `a2b_base64`, not strict): characters outside the
 * alphabet are skipped, a complete padding ends the input, and a partial last quantum is an error.
 * `undefined` wherever Python raises, including for non-ASCII text, and as soon as the bytes would exceed
 * `maxBytes`: a signature longer than the key's modulus can never verify, so a megabyte of one costs no more
 * than a real one.
 */
export const decodeBase64Lenient = (text: string, maxBytes: number = Number.POSITIVE_INFINITY): Uint8Array | undefined => {
  // Python refuses a `str` with any non-ASCII character before decoding anything.
  if (/[^\u0000-\u007f]/.test(text)) return undefined
  const bytes = new Uint8Array(Math.min(maxBytes, Math.ceil((text.length * 3) / 4)))
  let length = 0
  let quadPos = 0
  let leftChar = 0
  let pads = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === BASE64_PAD) {
      if (quadPos >= 2) {
        pads++
        if (quadPos + pads >= 4) return bytes.subarray(0, length)
      }
      continue
    }
    const value = BASE64_VALUES[code] ?? -1
    if (value < 0) continue
    pads = 0
    if (quadPos !== 0 && length >= bytes.length) return undefined
    switch (quadPos) {
      case 0:
        leftChar = value
        break
      case 1:
        bytes[length++] = (leftChar << 2) | (value >> 4)
        leftChar = value & 0x0f
        break
      case 2:
        bytes[length++] = (leftChar << 4) | (value >> 2)
        leftChar = value & 0x03
        break
      default:
        bytes[length++] = (leftChar << 6) | value
        leftChar = 0
    }
    quadPos = (quadPos + 1) % 4
  }
  return quadPos === 0 ? bytes.subarray(0, length) : undefined
}

/**
 * The smallest RSA modulus taken. PyCryptodome, which signs for the autoscaler, makes no key under 1024 bits, and a
 * 512-bit modulus is factored in hours: a signature by such a key proves nothing.
 */
export const MIN_RSA_BITS = 1024

/** PEM blocks in `text`: Node reads the first of several, and PyCryptodome's `import_key` refuses such a text. */
const pemBlocks = (text: string): number => text.split("-----BEGIN ").length - 1

const parseRsaPublicKey = (text: string) =>
  Effect.try({
    try: () => createPublicKey(text.trim()),
    catch: () => new AttemptFailed({ reason: "the body is not a PEM public key" })
  }).pipe(
    // Which of two keys the autoscaler signs with cannot be known: taking the first had the loaded key replaced by an
    // unrelated one (probe 52 I5).
    Effect.filterOrFail(
      () => pemBlocks(text) <= 1,
      () => new AttemptFailed({ reason: `the body holds ${pemBlocks(text)} PEM blocks, not one key` })
    ),
    Effect.filterOrFail(
      (key) => key.asymmetricKeyType === "rsa",
      (key) => new AttemptFailed({ reason: `the key is ${key.asymmetricKeyType ?? "of an unknown type"}, not RSA` })
    ),
    Effect.filterOrFail(
      (key) => (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS,
      (key) => new AttemptFailed({ reason: `the key is RSA-${key.asymmetricKeyDetails?.modulusLength ?? "?"}, under ${MIN_RSA_BITS} bits` })
    )
  )

/** A PEM RSA key is under 4 KB; an answer past this is not one. */
const MAX_KEY_ANSWER_BYTES = 64 * 1024

/** A loaded key, with the length of its signatures (PKCS#1 v1.5: exactly the modulus), worked out once. */
interface LoadedKey {
  readonly key: KeyObject
  readonly signatureBytes: number
}

const withSignatureBytes = (key: KeyObject): LoadedKey => ({
  key,
  signatureBytes: Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? Number.POSITIVE_INFINITY) / 8)
})

/**
 * After a refused signature the key is fetched again at most this often (the last fetch counts). Short: anyone who can
 * reach the public port can send a refused signature, and each check it starts holds the next one back by this long,
 * so a rotation is seen at most this late; long enough that a flood of them costs the autoscaler one small GET.
 */
export const KEY_RECHECK_MS = 5_000

/**
 * How long after a rotation is seen the key it replaced still verifies a create: a route answer signed just before it
 * may still be on its way. Past this, that key counts only inside the sessions it opened (a key rotated because it
 * leaked must not keep opening sessions).
 */
export const PREVIOUS_KEY_GRACE_MS = 60_000

const verifiedBy = (loaded: LoadedKey, message: Buffer, signatureText: string): boolean => {
  const signature = decodeBase64Lenient(signatureText, loaded.signatureBytes)
  if (signature === undefined) return false
  try {
    // RSASSA-PKCS1-v1_5 over SHA-256; a wrong signature length may throw rather than return false.
    return cryptoVerify("sha256", message, { key: loaded.key, padding: constants.RSA_PKCS1_PADDING }, signature)
  } catch {
    return false
  }
}

const make = (pubkeyUrls: ReadonlyArray<string>, policy: PublicKeyFetchPolicy) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    // Read by every signed request, written rarely: plain variables of the service, not Refs. The key a rotation
    // replaced is kept, with when the rotation was seen, until the next one.
    let current: LoadedKey | null = null
    let previous: LoadedKey | null = null
    let replacedAt = 0
    const loaded = yield* Deferred.make<void>()
    const clock = yield* Effect.clock
    /** When the key was last fetched, and whether a check after a refused signature is running. */
    let fetchedAt = 0
    let rechecking = false
    const background = yield* FiberSet.make()
    const runFork = yield* FiberSet.runtime(background)<never>()
    const attemptsMade = yield* Ref.make(0)

    // Redirects followed as the framework's aiohttp GET follows them: a key moved behind one (http to https, a new path)
    // would otherwise leave the worker unready for good.
    const fetchFrom = (pubkeyUrl: string) => Effect.suspend(() => {
      // Whether this attempt's answer came, for the timeout's reason: a body that trickles is not "no answer" (probe 50 I3).
      let answered = false
      return getFollowingRedirects(client, pubkeyUrl, (response) => {
        answered = true
        return HttpClientResponse.filterStatusOk(response).pipe(
          // An answer without end would otherwise be read until the process runs out of memory.
          Effect.flatMap((ok) => boundedText(ok, MAX_KEY_ANSWER_BYTES))
        )
      }).pipe(
        // Node's client throws on a redirect it cannot follow (`ftp:`, an unparsable `Location`): a failed attempt, as
        // any other defect of one fetch is.
        Effect.catchAllDefect((defect) => Effect.fail(new AttemptFailed({ reason: `the fetch failed: ${describeDefect(defect)}` }))),
        Effect.catchTags({
          BodyTooLarge: (error) => Effect.fail(new AttemptFailed({ reason: error.message })),
          RequestError: (error) =>
            Effect.fail(new AttemptFailed({ reason: `${error.reason} error: ${errnoOf(error) ?? error.description ?? "no answer"}` })),
          ResponseError: (error) =>
            Effect.fail(
              new AttemptFailed({
                reason: error.reason === "StatusCode" ? `status ${error.response.status}` : `${error.reason} error`
              })
            )
        }),
        Effect.timeoutFail({
          duration: policy.attemptTimeout,
          onTimeout: () =>
            new AttemptFailed({
              reason: answered ? `its answer did not end within ${Duration.format(policy.attemptTimeout)}` : `no answer within ${Duration.format(policy.attemptTimeout)}`
            })
        }),
        Effect.flatMap((body) => parseRsaPublicKey(body))
      )
    })
    // The first address that serves a key, starting at the one that served it last (a hung first address would otherwise
    // cost every later check its timeout; a first address that recovers is not gone back to, which a key does not need);
    // each failure is said with its address (redacted) when there are several. One fetch runs at a time.
    let servedBy = 0
    const fetchOnce: Effect.Effect<KeyObject, AttemptFailed> =
      pubkeyUrls.length <= 1
        ? fetchFrom(pubkeyUrls[0] ?? "")
        : Effect.suspend(() => {
            const reasons: Array<string> = []
            const start = servedBy
            const tryFrom = (tried: number): Effect.Effect<KeyObject, AttemptFailed> => {
              if (tried >= pubkeyUrls.length) return Effect.fail(new AttemptFailed({ reason: reasons.join("; ") }))
              const index = (start + tried) % pubkeyUrls.length
              return fetchFrom(pubkeyUrls[index]!).pipe(
                Effect.tap(() => {
                  servedBy = index
                }),
                Effect.catchAll((error) => {
                  reasons.push(`${redactUrl(pubkeyUrls[index]!)}: ${error.reason}`)
                  return tryFrom(tried + 1)
                })
              )
            }
            return tryFrom(0)
          })

    const attempt = Effect.gen(function* () {
      const number = yield* Ref.updateAndGet(attemptsMade, (n) => n + 1)
      return yield* fetchOnce.pipe(
        Effect.tapError((error) =>
          // Every failure of the first five is logged (the framework's attempts); later ones once a minute.
          number <= 5 || number % Math.max(1, Math.round(60_000 / Duration.toMillis(Duration.decode(policy.maxRetryDelay)))) === 0
            ? Effect.logWarning(`Serverless public key fetch attempt ${number} failed: ${error.reason}; trying again`)
            : Effect.void
        )
      )
    })

    const retryDelays = Schedule.exponential(policy.firstRetryDelay, 2).pipe(
      Schedule.modifyDelay((delay) => Duration.min(delay, Duration.decode(policy.maxRetryDelay)))
    )
    const fetchKey = attempt.pipe(
      Effect.retry(retryDelays),
      // The schedule never ends: a failure cannot come out of it.
      Effect.orDie,
      Effect.flatMap((loadedKey) =>
        Effect.sync(() => {
          current = withSignatureBytes(loadedKey)
          fetchedAt = unsafeMonotonicMillis(clock)
        })
      ),
      Effect.zipRight(Effect.suspend(() => Ref.get(attemptsMade))),
      Effect.flatMap((attempts) => Effect.logInfo("Serverless public key loaded", { attempts }))
    )

    // Interrupted at shutdown; `intoDeferred` then interrupts the fibers awaiting `ready` too.
    yield* fetchKey.pipe(Effect.intoDeferred(loaded), Effect.forkScoped)

    /**
     * The key fetched again, after a signature the loaded keys refuse: the autoscaler may have rotated it. A new key is
     * taken, and the one before it kept for the sessions it opened (their `auth_data` were signed by it).
     */
    const recheck = fetchOnce.pipe(
      Effect.flatMap((fresh) =>
        Effect.suspend(() => {
          if (current === null || current.key.equals(fresh)) return Effect.void
          // A rotation back to the key before: the one it replaces is the one kept.
          previous = current
          current = withSignatureBytes(fresh)
          replacedAt = unsafeMonotonicMillis(clock)
          return Effect.logInfo(
            `Serverless public key changed: signatures by the new key are accepted; by the previous one, creates for ${PREVIOUS_KEY_GRACE_MS / 1000} s more, and requests inside the sessions it opened while it is kept`
          )
        })
      ),
      Effect.catchAll((error) => Effect.logWarning(`Serverless public key check after a refused signature failed: ${error.reason}; the loaded key stays`)),
      Effect.ensuring(
        Effect.sync(() => {
          rechecking = false
          followUp()
        })
      )
    )
    // A refusal that came while no check could start (one running, or the last under 5 s ago): one more check is owed,
    // run as soon as it may. Dropped, a rotation seen by no check went unseen until the next refusal after the hold-off
    // (probe 51 L3: the next genuine create, refused in its turn).
    let owed = false
    let waiting = false
    const followUp = (): void => {
      if (!owed || rechecking || waiting) return
      // Monotonic: a wall clock stepped back would hold the next check back by the step.
      const now = unsafeMonotonicMillis(clock)
      const wait = fetchedAt + KEY_RECHECK_MS - now
      if (wait > 0) {
        waiting = true
        return void runFork(
          Effect.zipRight(
            Effect.sleep(Duration.millis(wait)),
            Effect.sync(() => {
              waiting = false
              followUp()
            })
          )
        )
      }
      // One fetch at a time: refusals, which anyone can send, never start checks side by side.
      owed = false
      rechecking = true
      fetchedAt = now
      runFork(recheck)
    }
    const recheckSoon = () => {
      owed = true
      followUp()
    }

    // Synchronous (an Either is an Effect): the check is computation over the loaded keys; a refusal may start a check
    // of the key in the background.
    const verifyWith = (authData: SignedFields, previousCounts: () => boolean): Either.Either<void, SignatureInvalid> => {
      const key = current
      if (key === null) return Either.left(refusals.signatureInvalid)
      const message = Buffer.from(signedMessage(authData.url), "utf8")
      if (verifiedBy(key, message, authData.signature)) return Either.void
      if (previous !== null && previousCounts() && verifiedBy(previous, message, authData.signature)) return Either.void
      recheckSoon()
      return Either.left(refusals.signatureInvalid)
    }
    const withinGrace = () => unsafeMonotonicMillis(clock) - replacedAt < PREVIOUS_KEY_GRACE_MS
    const always = () => true

    return SignatureVerifier.of({
      verify: (authData) => verifyWith(authData, withinGrace),
      verifyInSession: (authData) => verifyWith(authData, always),
      ready: Deferred.await(loaded)
    })
  })
