import type { ServerResponse } from "node:http"
import type { Socket } from "node:net"

/**
 * The answer Node has given `socket` (the first one not yet finished; the others queue behind it). `_httpMessage` is
 * not in Node's types, but it is what Node's own `clientError` default reads (with `headersSent`) to decide whether
 * it may still answer a malformed request, since Node 0.x.
 */
export const attachedAnswer = (socket: Socket): ServerResponse | undefined =>
  (socket as Socket & { readonly _httpMessage?: ServerResponse | null })._httpMessage ?? undefined
