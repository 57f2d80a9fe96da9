/**
 * What the local serverless keeps of the `on_close` callbacks its sink (`/callbacks/`) receives, for `/status`, the
 * status page and the log; the demo, which judges its run by them, reads the same bound.
 */
import { jsonText } from "../shared/exactJson.js"

/** The newest callbacks kept (`callbacks_received` counts them all). */
export const CALLBACKS_KEPT = 100

/**
 * A callback body kept, shown and logged whole up to this size (as JSON); a larger one (a worker accepts up to 1 MiB)
 * is kept as its size and first characters, so the sink, `/status`, the page and the log stay small.
 */
export const CALLBACK_BODY_SHOWN = 4096
const CALLBACK_HEAD = 256

/** `body` as kept by the sink: itself when its JSON is small, else `{truncated, bytes, head}`. */
export const keptCallbackBody = (body: unknown): unknown => {
  const text = jsonText(body) ?? "null"
  return text.length <= CALLBACK_BODY_SHOWN ? body : { truncated: true, bytes: Buffer.byteLength(text), head: text.slice(0, CALLBACK_HEAD) }
}
