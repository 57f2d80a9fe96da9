/**
 * A TLS peer whose certificate this process does not trust. Vast's workers (`USE_SSL=true`) present certificates
 * signed by Vast's own root CA, which is not in Node's store: without `--ca-file` every call to them fails this way.
 * Asking another worker cannot help (they are all signed alike), so such a failure ends the reservation at once,
 * saying what to do.
 */
import { errnoOf } from "../shared/errno.js"

/** Where Vast publishes the root CA of its workers' certificates. */
export const VAST_ROOT_CA_URL = "https://console.vast.ai/static/jvastai_root.cer"

/** OpenSSL's verification failures as Node names them (`error.code`), and Node's own name check. */
const CERTIFICATE_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_PURPOSE",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])

/** Whether `cause` (anywhere in its chain) is a certificate this process does not trust. */
export const isUntrustedCertificate = (cause: unknown): boolean => {
  const code = errnoOf(cause)
  return code !== undefined && CERTIFICATE_CODES.has(code)
}

/** What the user can do about it, appended to the failure's detail. */
export const UNTRUSTED_CERTIFICATE_HINT = `the TLS certificate is not trusted: pass the CA that signed it with --ca-file (Vast's workers: ${VAST_ROOT_CA_URL})`
