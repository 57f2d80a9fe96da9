import { connect } from "node:net"

/** What a raw `request` to `port` on loopback gets back before the server closes the connection (or `ms` pass). */
export const answerBeforeClose = (port: number, request: string, ms = 5_000) =>
  new Promise<string>((resolve) => {
    const socket = connect(port, "127.0.0.1")
    let received = ""
    const timer = setTimeout(() => socket.destroy(), ms)
    socket.on("error", () => undefined)
    socket.on("data", (chunk) => void (received += chunk.toString("latin1")))
    socket.on("close", () => {
      clearTimeout(timer)
      resolve(received)
    })
    socket.write(request)
  })
