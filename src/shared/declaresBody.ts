/**
 * Whether a request says a body follows (a `Content-Length` above 0, or a `Transfer-Encoding`). One answered without
 * its body being read closes its connection: Node would otherwise go on parsing what follows, however large and in
 * however many pieces, outside every body limit (probe 41 M1).
 */
import type { IncomingHttpHeaders } from "node:http"

export const declaresBody = (headers: IncomingHttpHeaders): boolean =>
  headers["transfer-encoding"] !== undefined || Number(headers["content-length"]) > 0
