/** The demo's command line: its flags and the help page built from them. */
import { defaulted, optional, optionsOf, renderHelp, toggle } from "../shared/cliHelp.js"
import { above0, from0, sessionCost, wholeAtLeast } from "../shared/numericFlags.js"
import { CALLBACKS_KEPT } from "../serverless/callbackSink.js"

/** An idle worker's life on the demo's endpoint, unless `--inactivity-timeout` or `--vast-defaults` says otherwise. */
export const DEFAULT_INACTIVITY_SECONDS = 2
/** How long after its idle life a worker may take to be gone from the status page: the demo's wait for the scale-down. */
export const SCALE_DOWN_SLACK_SECONDS = 15

export const flags = {
  // At most what the serverless keeps of its callbacks (the newest 100): the demo judges its run by them (review 43 L3).
  count: defaulted(wholeAtLeast(1, CALLBACKS_KEPT), { name: "count", value: "N", fallback: 3, description: `sessions (and so workers) at the peak, at most ${CALLBACKS_KEPT}` }),
  interval: defaulted(from0, { name: "interval", value: "SECONDS", fallback: 2, description: "time between starts, and between ends" }),
  plateau: defaulted(from0, { name: "plateau", value: "SECONDS", fallback: 4, description: "time all sessions are held together" }),
  inactivityTimeout: optional(above0("inactivity-timeout", "SECONDS"), {
    name: "inactivity-timeout",
    value: "SECONDS",
    fallback: `${DEFAULT_INACTIVITY_SECONDS}; none with --vast-defaults`,
    // The serverless reads 0 or less as "never": the demo, which waits for the scale-down, could not pass.
    description: "how long an idle worker lives before the endpoint scales it down (above 0)"
  }),
  sessionCost: defaulted(sessionCost, { name: "session-cost", value: "COST", fallback: 100, description: "cost of each session (200: the over-provisioning band-aid)" }),
  vastDefaults: toggle("vast-defaults", "use Vast's default endpoint settings instead of the README's (a spare worker kept, none scaled to zero)"),
  timeout: defaulted(above0, { name: "timeout", value: "SECONDS", fallback: 120, description: "give up (exit 1) after this long" })
}

export const options = optionsOf(flags)

export const help = renderHelp({
  notLogLines: "the demo's progress lines and the client's events",
  usage: ["npm run demo -- [options]   (node dist/demo.js)"],
  summary: [
    "The whole reservation flow on this machine: a local serverless, real worker processes, and the client in",
    "--demo mode. Exits 0 when every session was created and ended, every callback arrived once, and the",
    "endpoint scaled back to zero (unless --vast-defaults keeps workers)."
  ],
  flags: Object.values(flags).map((flag) => flag.help)
})

