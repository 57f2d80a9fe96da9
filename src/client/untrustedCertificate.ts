/**
 * A TLS peer whose certificate this process does not trust. Vast's workers (`USE_SSL=true`) present certificates
 * signed by Vast's own root CA, which is not in Node's store: without `--ca-file` every call to them fails this way.
 * Asking another worker cannot help (they are all signed alike), so such a failure ends the reservation at once,
 * saying what to do.
 */
import { errnoOf } from "../shared/errno.js"

/** Where Vast publishes the root CA of its workers' certificates. */
export const VAST_ROOT_CA_URL = "https://console.vast.ai/static/jvastai_root.cer"

/**
 * OpenSSL's verification failures that a trusted CA would cure, as Node names them (`error.code`). An expired or
 * misnamed certificate is another matter: it is one worker's, and asking again may reach a healthy one.
 */
const CERTIFICATE_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED"
])

/** Whether `cause` (anywhere in its chain) is a certificate signed by a CA this process does not trust. */
export const isUntrustedCertificate = (cause: unknown): boolean => {
  const code = errnoOf(cause)
  return code !== undefined && CERTIFICATE_CODES.has(code)
}

/** What the user can do about it, appended to the failure's detail; the client library's programs do not all have flags. */
export const UNTRUSTED_CERTIFICATE_HINT = `the TLS certificate is signed by a CA this program does not trust: give it that CA (the client's --ca-file, or NODE_EXTRA_CA_CERTS=<file> for any program; Vast's workers: ${VAST_ROOT_CA_URL})`
