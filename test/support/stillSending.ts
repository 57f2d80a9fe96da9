import { connect, type Socket } from "node:net"
import { Effect } from "effect"

export interface Outcome {
  /** Everything the server wrote. */
  readonly received: string
  /** Whether the connection ended by a reset (an error on the client's side) rather than a FIN. */
  readonly reset: boolean
}

/** Run `drive` on `socket`, and resolve once it closes with what it received; fail after 5 s. */
const outcome = (socket: Socket, drive: (socket: Socket) => void) =>
  Effect.async<Outcome>((resume) => {
    let received = ""
    let reset = false
    socket.on("error", () => (reset = true))
    socket.on("data", (chunk) => void (received += chunk.toString("latin1")))
    socket.on("close", () => resume(Effect.succeed({ received, reset })))
    drive(socket)
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the connection did not close") }))

/**
 * Send `head`, then keep sending `junk` bytes (16 KiB a write) while reading every answer, then half-close: what a
 * client still uploading when the server closes sees.
 */
export const sendWhileReading = (port: number, head: string, junk: number, open: (port: number) => Socket = (port) => connect(port, "127.0.0.1")) =>
  outcome(open(port), (socket) => {
    let left = junk
    const more = () => {
      while (left > 0 && !socket.destroyed) {
        const size = Math.min(left, 16 * 1024)
        left -= size
        if (!socket.write("z".repeat(size))) return void socket.once("drain", more)
      }
      if (!socket.destroyed) socket.end()
    }
    socket.write(head, more)
  })

/**
 * Send `head`, wait for the server's FIN, then send `writes` more chunks one after another and half-close: a client
 * whose bytes were on their way when the server closed. A server that closed outright answers them with a reset.
 */
export const sendAfterServerFin = (port: number, head: string, writes: number) =>
  outcome(connect({ port, host: "127.0.0.1", allowHalfOpen: true }), (socket) => {
    let left = writes
    const more = () => {
      if (socket.destroyed) return
      if (left-- > 0) socket.write("z".repeat(16 * 1024), () => setImmediate(more))
      else socket.end()
    }
    socket.on("end", more)
    socket.write(head)
  })
