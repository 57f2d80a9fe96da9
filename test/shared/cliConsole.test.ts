import { assert, describe, it } from "@effect/vitest"
import { Console, Effect } from "effect"
import { withOneLineErrors } from "../../src/shared/cliConsole.js"

/** What `Console.error` is given inside `withOneLineErrors`, as seen by the console around it. */
const errorsOf = (effect: Effect.Effect<void>, help = "") =>
  Effect.gen(function* () {
    const seen: Array<ReadonlyArray<unknown>> = []
    const outer = yield* Console.consoleWith(Effect.succeed)
    yield* Console.withConsole(withOneLineErrors(effect, help), {
      ...outer,
      error: (...args: ReadonlyArray<unknown>) => Effect.sync(() => void seen.push(args))
    })
    return seen
  })

const help = "Usage: x --endpoint NAME\n\nOptions:\n  --endpoint NAME   the endpoint's name; required unless VAST_ENDPOINT is set\n  --quiet           say less\n"

describe("withOneLineErrors", () => {
  it.effect("drops one last newline of each string; other arguments and other lines pass as they are", () =>
    Effect.gen(function* () {
      const seen = yield* errorsOf(Console.error("--count must be a number\n", 3, "two\n\n"))
      assert.deepStrictEqual(seen, [["--count must be a number", 3, "two\n"]])
    })
  )

  it.effect("a missing required flag is said with its line of the help page, its value's name included", () =>
    Effect.gen(function* () {
      const seen = yield* errorsOf(
        Effect.zipRight(Console.error("Expected to find option: '--endpoint'\n"), Console.error("Expected to find option: '--quiet'\n")),
        help
      )
      assert.deepStrictEqual(seen, [
        ["--endpoint NAME is required (the endpoint's name; required unless VAST_ENDPOINT is set)"],
        ["--quiet is required (say less)"]
      ])
    })
  )

  it.effect("a flag the page does not list: the generic line", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* errorsOf(Console.error("Expected to find option: '--other'\n"), help), [["--other is required; --help lists the flags"]])
    })
  )
})
