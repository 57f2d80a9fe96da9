import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, FiberId, Scope } from "effect"
import { stopOnInterrupt } from "../../src/demo/stopOnInterrupt.js"
import type { RunningProcess } from "../../src/serverless/WorkerLauncher.js"

/** A child whose `stop` ends it with SIGTERM's status; `exitByItself` ends it first with 0. */
const fakeChild = Effect.gen(function* () {
  const done = yield* Deferred.make<string>()
  let stops = 0
  const child: RunningProcess = {
    pid: 1,
    exited: Deferred.await(done),
    ended: Deferred.isDone(done),
    stop: Effect.zipRight(Effect.sync(() => void stops++), Deferred.succeed(done, "143")),
    tail: Effect.succeed([])
  }
  return { child, exitByItself: Deferred.succeed(done, "0"), stops: () => stops }
})

/** The lines said when a scope holding `stopOnInterrupt` for `child` closes with `exit`. */
const closeWith = (child: RunningProcess, exit: Exit.Exit<unknown>, signalled: boolean) =>
  Effect.gen(function* () {
    const said: Array<string> = []
    const scope = yield* Scope.make()
    yield* Scope.extend(stopOnInterrupt(child, "client", () => signalled, (text) => Effect.sync(() => void said.push(text))), scope)
    yield* Scope.close(scope, exit)
    return said
  })

describe("stopOnInterrupt", () => {
  it.effect("interrupted, a running child is stopped and said stopped, with its exit; the demo's own --timeout says it timed out", () =>
    Effect.gen(function* () {
      const running = yield* fakeChild
      assert.deepStrictEqual(yield* closeWith(running.child, Exit.interrupt(FiberId.none), false), ["timed out: stopped the client (exit 143)"])
      assert.strictEqual(running.stops(), 1)
      const signalled = yield* fakeChild
      assert.deepStrictEqual(yield* closeWith(signalled.child, Exit.interrupt(FiberId.none), true), ["interrupted: stopped the client (exit 143)"])
    })
  )

  it.effect("a child that had already exited by itself is not said to be stopped (newcomer 30 #3)", () =>
    Effect.gen(function* () {
      const gone = yield* fakeChild
      yield* gone.exitByItself
      assert.deepStrictEqual(yield* closeWith(gone.child, Exit.interrupt(FiberId.none), false), [])
    })
  )

  it.effect("a scope that closes otherwise stops nothing", () =>
    Effect.gen(function* () {
      const running = yield* fakeChild
      assert.deepStrictEqual(yield* closeWith(running.child, Exit.void, false), [])
      assert.strictEqual(running.stops(), 0)
    })
  )
})
