/**
 * The exit marker (`NULL_EXIT_FILE`): a deliberate stop ends by writing `<pid> stopped` there, just before the
 * `worker stopped` line. A supervisor that finds the worker gone without it knows it was killed (out of memory,
 * SIGKILL). scripts/start-vast.sh relies on it: the log cannot tell, since its format and level are the
 * operator's choice and it keeps the lines of earlier runs.
 */
import { Effect, Option } from "effect"
import { errnoOf } from "../../shared/errno.js"
import { MarkerRefused, writeMarkerFile } from "./markerFile.js"

/** What the marker holds: the pid, so that a marker left by another process is never taken for this one's. */
export const exitMarkerText = (pid: number): string => `${pid} stopped\n`

/**
 * Write the marker, if a file is named, never over `keep` (the journal) nor into a FIFO (`markerFile.ts`). Never
 * fails: the stop goes on, and the warning says that a supervisor may take it for a kill.
 */
export const writeExitMarker = (file: Option.Option<string>, pid: number, keep: ReadonlyArray<string> = []): Effect.Effect<void> =>
  Option.match(file, {
    onNone: () => Effect.void,
    onSome: (path) =>
      Effect.try(() => writeMarkerFile(path, exitMarkerText(pid), keep)).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("could not write the exit marker: a supervisor may take this stop for a kill", {
            file: path,
            cause: error.error instanceof MarkerRefused ? error.error.message : (errnoOf(error.error) ?? String(error.error))
          })
        )
      )
  })
