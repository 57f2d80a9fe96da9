/**
 * A session as a library user holds one beside a job, what the Python SDK's `with endpoint.session(…)` gives:
 * reserved, ended when the scope closes, and kept alive meanwhile. (The CLI's `Reservations` does the same
 * with its own reporting, and also watches for a release.)
 */
import { type Duration, Effect, Exit, Fiber, Scope } from "effect"
import type { ReserveError } from "./errors.js"
import { type CreateOutcome, type ReserveOptions, type Session, VastClient } from "./VastClient.js"
import { printable } from "../shared/printable.js"

/**
 * `reserve`, with the session's end added to the scope. Interrupted, routing stops at once, but a create in
 * flight finishes first (its own timeout still applies), so a session the worker made is ended too. An end
 * that fails is logged: the session then lasts until its lifetime passes. An end on interruption (Ctrl-C) is logged
 * when it succeeds too, so a stop says how it ended; otherwise the caller says what it wants.
 */
export const reserveScoped = (options: Omit<ReserveOptions, "runCreate">): Effect.Effect<Session, ReserveError, VastClient | Scope.Scope> =>
  Effect.gen(function* () {
    const vast = yield* VastClient
    const scope = yield* Effect.scope
    const end = (session: Session, exit: Exit.Exit<unknown, unknown>) =>
      Effect.matchEffect(vast.endSession(session), {
        onFailure: (error) => Effect.logError(`session ${printable(session.sessionId)} not ended: ${error.message}`),
        onSuccess: () => (Exit.isInterrupted(exit) ? Effect.logInfo(`session ${printable(session.sessionId)} ended`) : Effect.void)
      })
    const registered = (create: Effect.Effect<CreateOutcome>) =>
      Effect.tap(create, (made) => (made._tag === "Created" ? Scope.addFinalizerExit(scope, (exit) => end(made.session, exit)) : Effect.void))
    return yield* vast.reserve({
      ...options,
      // In a fiber of its own, which the caller's interruption does not reach, but interruptible there: an
      // uninterruptible create would never time out.
      runCreate: (create) => Effect.uninterruptible(Effect.flatMap(Effect.forkDaemon(Effect.interruptible(registered(create))), Fiber.join))
    })
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
