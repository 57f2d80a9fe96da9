// A free loopback port for a process a script starts. The OS may offer a port again as soon as its probe
// closed, so one script never hands out the same port twice.
import net from "node:net"

const handedOut = new Set()

const probePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

export const freePort = async () => {
  for (;;) {
    const port = await probePort()
    if (!handedOut.has(port)) return handedOut.add(port), port
  }
}
