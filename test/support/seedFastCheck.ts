/**
 * Setup file of the mutation run (`vitest.mutate.config.ts`): every property test draws the same
 * schedules on every run, so a mutant is judged by the same inputs as the unmutated code.
 */
import { FastCheck as fc } from "effect"

fc.configureGlobal({ seed: 20_260_909 })
