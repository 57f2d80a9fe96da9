/**
 * A session as a library user holds one beside a job, what the Python SDK's `with endpoint.session(…)` gives:
 * reserved, ended when the scope closes, and kept alive meanwhile. (The CLI's `Reservations` does the same
 * with its own reporting, and also watches for a release.)
 */
import { Deferred, type Duration, Effect, Exit, Fiber, Scope } from "effect"
import type { ReserveError, SessionUnknown, WorkerError } from "./errors.js"
import { type CreateOutcome, type EndOutcome, type ReserveOptions, type Session, VastClient } from "./VastClient.js"
import { printable } from "../shared/printable.js"

/** A session held for a job, and how its end went. */
export interface HeldSession {
  readonly session: Session
  /**
   * The end the scope's close made: its outcome, or why the session was not ended (it then lasts until its lifetime
   * passes). Waits for that close: read it once the scope is closed, as a job's exit status should say so.
   */
  readonly ended: Effect.Effect<EndOutcome, SessionUnknown | WorkerError>
}

/**
 * `reserve`, with the session's end added to the scope. Interrupted, routing stops at once, but a create in
 * flight finishes first (its own timeout still applies), so a session the worker made is ended too. An end
 * that fails is logged, and `ended` fails with it. An end on interruption (Ctrl-C) is logged when it succeeds too, so a
 * stop says how it ended; otherwise the caller says what it wants.
 */
export const reserveScoped = (options: Omit<ReserveOptions, "runCreate">): Effect.Effect<HeldSession, ReserveError, VastClient | Scope.Scope> =>
  Effect.gen(function* () {
    const vast = yield* VastClient
    const scope = yield* Effect.scope
    const ended = yield* Deferred.make<EndOutcome, SessionUnknown | WorkerError>()
    const end = (session: Session, exit: Exit.Exit<unknown, unknown>) =>
      Effect.matchEffect(vast.endSession(session), {
        onFailure: (error) => Effect.zipRight(Effect.logError(`session ${printable(session.sessionId)} not ended: ${error.message}`), Deferred.fail(ended, error)),
        onSuccess: (outcome) =>
          Effect.zipRight(Exit.isInterrupted(exit) ? Effect.logInfo(`session ${printable(session.sessionId)} ended`) : Effect.void, Deferred.succeed(ended, outcome))
      })
    const registered = (create: Effect.Effect<CreateOutcome>) =>
      Effect.tap(create, (made) => (made._tag === "Created" ? Scope.addFinalizerExit(scope, (exit) => end(made.session, exit)) : Effect.void))
    const session = yield* vast.reserve({
      ...options,
      // In a fiber of its own, which the caller's interruption does not reach, but interruptible there: an
      // uninterruptible create would never time out.
      runCreate: (create) => Effect.uninterruptible(Effect.flatMap(Effect.forkDaemon(Effect.interruptible(registered(create))), Fiber.join))
    })
    return { session, ended: Deferred.await(ended) }
  })

/**
 * `/ping` every `every` until the worker closes the session. A failed ping (no answer, a 5xx) says nothing about
 * the session, so it is logged and the next one tries again; only the worker's 410 ends it.
 */
export const keepSessionAlive = (session: Session, every: Duration.DurationInput): Effect.Effect<void, never, VastClient> =>
  Effect.flatMap(VastClient, (vast) => {
    const pingFailed = (error: { readonly message: string }) => Effect.logWarning(`ping failed: ${error.message}`)
    return vast.ping(session).pipe(
      Effect.catchTags({ RequestFailed: pingFailed, UnexpectedResponse: pingFailed }),
      Effect.delay(every),
      Effect.forever,
      Effect.catchTag("SessionClosed", (closed) => Effect.logWarning(closed.message))
    )
  })
