/**
 * Closing a connection whose client may still be sending. Linux answers the close of a socket with unread input by a
 * reset, and the client's kernel then drops what it has received but not yet read: the last answers (a `400`
 * after pipelined requests, a `413` to a body still coming, the answer before a `Connection: close`). So the write
 * side is ended (the answers go out, then FIN), and what the client still sends is read and dropped until its own
 * FIN, for at most `LINGER_MS` and `LINGER_BYTES`; past either the socket is destroyed.
 */
import type { Socket } from "node:net"
import { Effect, type Fiber } from "effect"

/** As long as a client that has its answers gets to close first (Apache's lingering close waits 2 s too). */
export const LINGER_MS = 2_000
/** Bytes dropped at most (four default body limits): a client still sending this much after its answer is not stopping. */
export const LINGER_BYTES = 4 * 1024 * 1024

/** Resolves when the socket closes, whoever closes it. */
const closed = (socket: Socket) =>
  Effect.async<void>((resume) => {
    if (socket.destroyed) return resume(Effect.void)
    const onClose = () => resume(Effect.void)
    socket.once("close", onClose)
    return Effect.sync(() => socket.off("close", onClose))
  })

/** A listener's lingering closes. */
export interface LingeringClose {
  /**
   * End the connection's write side (after what is already written), then read and drop until the client's FIN,
   * within the bounds. Once per connection.
   */
  readonly close: (socket: Socket) => void
  /** Whether `socket` is closing this way: Node's parser no longer reads it, so its timeouts have nothing to answer. */
  readonly isLingering: (socket: Socket) => boolean
  /** The connection lingering the longest, no longer counted here (for the caller to destroy), if any. */
  readonly takeOldest: () => Socket | undefined
}

/** The time bounds run as fibers started by `runFork` (the listener's, so that closing the listener interrupts them). */
export const makeLingeringClose = (runFork: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>): LingeringClose => {
  /** Oldest first (a `Set` keeps insertion order). */
  const lingering = new Set<Socket>()
  const takeOldest = () => {
    const oldest = lingering.values().next().value
    if (oldest !== undefined) lingering.delete(oldest)
    return oldest
  }
  return { close: (socket) => lingerOn(socket, lingering, runFork), isLingering: (socket) => lingering.has(socket), takeOldest }
}

const lingerOn = (socket: Socket, lingering: Set<Socket>, runFork: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>) => {
  if (socket.destroyed || lingering.has(socket)) return
  lingering.add(socket)
  socket.once("close", () => lingering.delete(socket))
  // Node's HTTP parser reads this socket through its own `data` listener (or straight from the handle, which adding a
  // listener undoes): taken off, so that what comes after the close is never parsed as a request.
  socket.removeAllListeners("data")
  let dropped = 0
  socket.on("data", (chunk: Buffer) => {
    dropped += chunk.length
    if (dropped > LINGER_BYTES) socket.destroy()
  })
  socket.resume()
  // The parser stopped the handle's reads while it owned them, and the stream still counts a read in progress, so
  // `resume` alone reads nothing: the read is started the way the stream itself starts one (`_read`, the stream's
  // private method; the linger tests fail if a Node version changes this).
  socket._read(64 * 1024)
  // Once the client's FIN has come too (before or after), the stream closes itself (net sockets destroy themselves
  // when both sides have ended).
  socket.end()
  runFork(Effect.raceFirst(Effect.sleep(LINGER_MS).pipe(Effect.andThen(Effect.sync(() => socket.destroy()))), closed(socket)))
}
