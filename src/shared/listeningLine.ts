/**
 * The line that says where a program listens. It is the program's answer (with `--port 0`, the only place the port
 * it took is said), not a diagnostic: logged at info, and shown under a higher minimum level too, but for `none`
 * (newcomer 28 #3).
 */
import { Effect, FiberRef, LogLevel } from "effect"

export const logListening = (message: string): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(FiberRef.currentMinimumLogLevel), (minimum) =>
    minimum._tag === "None" || LogLevel.lessThanEqual(minimum, LogLevel.Info)
      ? Effect.logInfo(message)
      : Effect.locally(Effect.logInfo(message), FiberRef.currentMinimumLogLevel, LogLevel.Info)
  )
