/**
 * A worker whose port refuses the connection has stopped (a worker listens until it exits, and its sessions live in
 * its memory): the session went with it. A refusal is asked again a second later before it counts: a forwarder on
 * the client's side (`ssh -L`) may refuse for a moment. Used by the client's holds (`Reservations.ts`) and the
 * autoscale daemon's (`autoscale/Holdings.ts`).
 */
import { Duration, Effect, Either } from "effect"
import { RequestFailed } from "./errors.js"

/** Whether the call failed because nothing listens at the address. */
export const refused = (error: unknown): boolean => error instanceof RequestFailed && error.refused === true

const REFUSED_AGAIN_AFTER = Duration.seconds(1)

export const WORKER_GONE = "nothing listens at the worker's address any more (connection refused twice, a second apart)"

/** The call's outcome; a refused one is made once more a second later, and that outcome counts. */
export const askedTwiceIfRefused = <A, E>(call: Effect.Effect<A, E>): Effect.Effect<Either.Either<A, E>> =>
  Effect.flatMap(Effect.either(call), (first) =>
    Either.isLeft(first) && refused(first.left) ? Effect.zipRight(Effect.sleep(REFUSED_AGAIN_AFTER), Effect.either(call)) : Effect.succeed(first)
  )
