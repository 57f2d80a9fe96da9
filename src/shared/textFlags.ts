/**
 * The text options of the command lines that take a value from a set or name a file. `Options.choice` and
 * `Options.file` refuse with lines that name no flag ("Expected one of the following cases: …", "Path '…' must
 * exist"); here the one line of every refusal starts with the flag, as numericFlags.ts does for numbers.
 */
import { statSync } from "node:fs"
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Effect } from "effect"

/** The most of a refused value a line shows. */
const SHOWN_MAX = 64

const refuse = (line: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(line)))

/** One of `choices`, as typed. */
export const choiceOf =
  <A extends string>(choices: ReadonlyArray<A>) =>
  (name: string): Options.Options<A> =>
    Options.text(name).pipe(
      Options.mapEffect((text) => {
        const found = choices.find((choice) => choice === text)
        const shown = text.length > SHOWN_MAX ? `${text.slice(0, SHOWN_MAX)}…` : text
        return found === undefined ? refuse(`--${name} must be one of ${choices.join(", ")}, not ${JSON.stringify(shown)}`) : Effect.succeed(found)
      })
    )

/** The path of a file that exists (a directory is refused, as reading it would fail later). */
export const existingFile = (name: string): Options.Options<string> =>
  Options.text(name).pipe(
    Options.mapEffect((path) => {
      const stat = statSync(path, { throwIfNoEntry: false })
      return stat === undefined
        ? refuse(`--${name} must name a file, and there is none at ${JSON.stringify(path)}`)
        : stat.isFile()
          ? Effect.succeed(path)
          : refuse(`--${name} must name a file, and ${JSON.stringify(path)} is not one`)
    })
  )

/**
 * `options` refused when empty or only spaces (a name, a key, a command): said as the flag, not found later as nothing;
 * with the variable it may also come from (`fromEnv`), which is said too, since the flag may not have been given.
 */
export const nonEmpty =
  (name: string, fromEnv?: string) =>
  (options: Options.Options<string>): Options.Options<string> =>
    options.pipe(
      Options.mapEffect((text) => (text.trim() === "" ? refuse(`--${name}${fromEnv === undefined ? "" : ` (or ${fromEnv})`} must not be empty`) : Effect.succeed(text)))
    )

/** Text that is not empty. */
export const nonEmptyText = (name: string): Options.Options<string> => nonEmpty(name)(Options.text(name))
