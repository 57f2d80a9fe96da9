/**
 * SIGUSR1 makes Node open its inspector on 127.0.0.1:9229, through which any local process could run code in the
 * worker and read its secrets (`MASTER_TOKEN`, every open session's `session_auth`). A listener of our own keeps Node
 * from opening it; whoever starts the worker can still debug it with `node --inspect`.
 */
const ignore = () => undefined

/** From the program's first line, so that no window is left open while the worker starts. */
export const keepInspectorClosed = (): void => {
  if (!process.listeners("SIGUSR1").includes(ignore)) process.on("SIGUSR1", ignore)
}
