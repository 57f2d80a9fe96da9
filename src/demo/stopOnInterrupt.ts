import { Effect, Exit, type Scope } from "effect"
import type { RunningProcess } from "../serverless/WorkerLauncher.js"

/**
 * When the scope closes by interruption (a signal, or the demo's own `--timeout` when `signalled` says none came), stop
 * `child` and say so with its exit; a child that had already exited by itself is left unsaid (it was not stopped).
 * Finalizers run in the reverse order of the starts: the client ends its sessions while the serverless still runs.
 */
export const stopOnInterrupt = (
  child: RunningProcess,
  name: string,
  signalled: () => boolean,
  say: (text: string) => Effect.Effect<void>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.addFinalizer((exit) =>
    Exit.isInterrupted(exit)
      ? Effect.gen(function* () {
          const endedBefore = yield* child.ended
          yield* child.stop
          if (endedBefore) return
          yield* say(`${signalled() ? "interrupted" : "timed out"}: stopped the ${name} (exit ${yield* child.exited})`)
        })
      : Effect.void
  )
