/**
 * The control server's guard against web pages (`browserGuard.ts`: it listens on 127.0.0.1 and asks for no
 * credentials). Typing a control URL in the address bar (`Sec-Fetch-Site: none`) still works. A worker's own session
 * callbacks are refused too, by their `User-Agent`: a reservation names its callback's URL, which on a host with
 * several workers (the local serverless) could be a sibling's control port.
 */
import type { IncomingHttpHeaders } from "node:http"
import { CALLBACK_USER_AGENT_PREFIX } from "../../protocol/callback.js"
import { browserRefusal } from "../../shared/browserGuard.js"
import { NotLocalRequest } from "../errors.js"

const guard = { server: "the control port", sameOrigin: false, host: true }

/** Why a request is not a local client's, naming the header; `null` when it is. */
export const notLocal = (headers: IncomingHttpHeaders): NotLocalRequest | null => {
  if (headers["user-agent"]?.startsWith(CALLBACK_USER_AGENT_PREFIX) === true) {
    return new NotLocalRequest({
      field: "user-agent",
      message: "user-agent: the control port does not answer a worker's session callbacks (an on_close_route points at a control port)"
    })
  }
  const refusal = browserRefusal(headers, guard)
  return refusal === null ? null : new NotLocalRequest(refusal)
}
