import type { Server } from "node:http"
import type { Spawned } from "./process.js"

/** Processes and servers a test file starts, stopped after each test (`afterEach(tracked.cleanup)`). */
export const tracked = () => {
  const processes: Array<Spawned> = []
  const servers: Array<Server> = []
  const cleanup = async () => {
    for (const spawned of processes.splice(0)) {
      if (spawned.child.exitCode === null) spawned.child.kill("SIGKILL")
      await spawned.exited
    }
    for (const server of servers.splice(0)) {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  }
  return { processes, servers, cleanup }
}
