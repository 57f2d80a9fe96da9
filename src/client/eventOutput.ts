/**
 * Where a run's events are written. A reader that goes away (`| head`) must not cost the open sessions their end
 * (`writeSafely`); one that stops reading costs events, not memory: the daemon runs for days (`boundedOutput.ts`).
 * What was dropped is said in the output's own form once the reader has caught up.
 */
import type { Writable } from "node:stream"
import { DateTime, Effect } from "effect"
import { boundedOutput, droppedSentence, OUTPUT_BACKLOG_MAX } from "../shared/boundedOutput.js"
import { jsonLine, type Write } from "./Reporter.js"

export const eventOutput = (stream: Writable, json: boolean, max: number = OUTPUT_BACKLOG_MAX): Write => {
  const output = boundedOutput(stream, max)
  return (text, kept = false) =>
    Effect.flatMap(DateTime.now, (now) =>
      Effect.sync(() =>
        (kept ? output.writeKept : output.write)(text, (dropped, max) =>
          json
            ? jsonLine({ event: "output_dropped", events: dropped, backlog_max_bytes: max }, now)
            : `${DateTime.formatIso(now)} ${droppedSentence(dropped, "events", max)}\n`
        )
      )
    )
}
