import { CliConfig, Options } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import type { Flag } from "../../src/shared/cliHelp.js"
import { clientFlags, doctorFlags } from "../../src/client/cli.js"
import { flags as autoscaleFlags } from "../../src/client/autoscale/cli.js"
import { flags as serverlessFlags } from "../../src/serverless/cli.js"
import { flags as demoFlags } from "../../src/demo/cli.js"

/** The value `option` takes from `args`, or the one-line refusal. */
const parse = (option: Options.Options<unknown>, args: ReadonlyArray<string>) =>
  Effect.runPromise(
    Options.processCommandLine(option, args, CliConfig.defaultConfig).pipe(
      Effect.map(([, , value]) => value),
      Effect.either,
      Effect.map(Either.mapLeft((error) => JSON.stringify(error.error))),
      Effect.provide(NodeContext.layer)
    )
  )

const programs: ReadonlyArray<readonly [string, Record<string, Flag<unknown>>]> = [
  ["client", clientFlags],
  ["doctor", doctorFlags],
  ["autoscale", autoscaleFlags],
  ["serverless", serverlessFlags],
  ["demo", demoFlags]
]

describe("flags whose value is SECONDS", () => {
  it("every one, in every program, takes a unit: 7m is 420 s, 1.5h is 5400 s", async () => {
    let seen = 0
    for (const [program, flags] of programs) {
      for (const flag of Object.values(flags)) {
        const [name, value] = flag.help.usage.split(" ")
        if (value !== "SECONDS" || name === undefined) continue
        seen++
        const plain = await parse(flag.option, [name, "420"])
        expect(Either.isRight(plain), `${program} ${name} 420`).toBe(true)
        expect(await parse(flag.option, [name, "7m"]), `${program} ${name} 7m`).toEqual(plain)
        expect(await parse(flag.option, [name, "1.5h"]), `${program} ${name} 1.5h`).toEqual(await parse(flag.option, [name, "5400"]))
        // No timer waits past 2^31 − 1 ms: a longer wait would never end (review 58 L4: `--interval 30d` was taken).
        expect(Either.isLeft(await parse(flag.option, [name, "30d"])), `${program} ${name} 30d`).toBe(true)
      }
    }
    // 21 today: a table that lost its flags would pass with none.
    expect(seen).toBeGreaterThanOrEqual(21)
  })

  it("a count or a cost takes no unit, and a SECONDS flag says which forms it takes", async () => {
    expect(await parse(clientFlags.count.option, ["--count", "7m"])).toEqual(Either.left(expect.stringContaining("--count must be a number")))
    expect(await parse(clientFlags.sessionCost.option, ["--session-cost", "1m"])).toEqual(Either.left(expect.stringContaining("--session-cost must be a number")))
    expect(await parse(clientFlags.hold.option, ["--hold", "7 minutes"])).toEqual(
      Either.left(expect.stringContaining("--hold must be a number of seconds, or one with a unit (ms, s, m, h, d): 90, 0.5, 250ms, 90s, 10m, 2h, 1d"))
    )
  })
})
