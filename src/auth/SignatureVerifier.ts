/**
 * Proof that a request came through the autoscaler: `auth_data.signature` over `auth_data.url`.
 * Checked on `/session/create` and `/ping`.
 */
import { Context, Effect, Layer } from "effect"
import type { SignatureInvalid } from "../domain/errors.js"
import type { AuthData } from "../domain/requests.js"

export class SignatureVerifier extends Context.Tag("app/SignatureVerifier")<
  SignatureVerifier,
  {
    /** Succeeds when `authData` carries a valid autoscaler signature. */
    readonly verify: (authData: AuthData) => Effect.Effect<void, SignatureInvalid>
  }
>() {
  /** Accepts every request: the behaviour of `UNSECURED=true`. */
  static readonly layerUnsecured = Layer.succeed(SignatureVerifier, SignatureVerifier.of({ verify: () => Effect.void }))
}
