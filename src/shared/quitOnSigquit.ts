/**
 * SIGQUIT ends the process, as its default does, also where the kernel drops that default: as PID 1 of a container
 * started without `--init`, a signal with no handler is ignored, and a worker sent SIGQUIT served on (probe 58 #6).
 * The handler goes, the signal is raised again (elsewhere the default then ends the process, with its core dump), and
 * where that did nothing the process exits 131, as a shell reports a SIGQUIT.
 */
export const quitOnSigquit = (): void => {
  process.once("SIGQUIT", () => {
    process.kill(process.pid, "SIGQUIT")
    process.exit(131)
  })
}
