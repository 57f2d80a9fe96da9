/**
 * `--completions <shell>`, answered before @effect/cli parses anything: its own answer is made from the command it
 * runs, so a subcommand's script (`null-worker-client doctor --completions bash`) completed the bare name `doctor`,
 * and an unknown shell fell through to the first missing flag's error. Here one script covers the program's command
 * with its subcommands, whichever of them asked, and an unknown shell is named as such.
 */
import { Command } from "@effect/cli"
import { Effect } from "effect"
import { printable } from "./printable.js"
import { flagsPart } from "./standardFlags.js"
import { LOG_LEVELS } from "./logLevelFlag.js"

export const SHELLS = ["bash", "fish", "sh", "zsh"] as const
export type Shell = (typeof SHELLS)[number]

/** What `--completions` asks for: a shell, or why the request is not one; null when it is not given. */
export const completionsRequest = (args: ReadonlyArray<string>): { readonly shell: Shell } | { readonly error: string } | null => {
  const flags = flagsPart(args)
  const at = flags.findIndex((arg) => arg === "--completions" || arg.startsWith("--completions="))
  if (at === -1) return null
  const given = flags[at]!.startsWith("--completions=") ? flags[at]!.slice("--completions=".length) : flags[at + 1]
  const shell = SHELLS.find((name) => name === given)
  return shell === undefined
    ? { error: `--completions needs a shell: ${SHELLS.join(", ")}${given === undefined || given === "" || given.startsWith("-") ? "" : ` (not "${printable(given).slice(0, 40)}")`}` }
    : { shell }
}

/** The bash cases of @effect/cli's own flags that take a value. */
const BUILT_IN_VALUES = ([["--log-level", LOG_LEVELS], ["--completions", SHELLS]] as const)
  .map(([flag, values]) => `                ${flag})\n                    COMPREPLY=( $(compgen -W "${values.join(" ")}" -- "\${cur}") )\n                    return 0\n                    ;;\n`)
  .join("")

/**
 * The completion script for `command` in `shell`; sh gets bash's, as @effect/cli gives it. Bash's and fish's scripts
 * complete the command's own name, zsh's `programName`: ours are named as their installed bins, and so is this.
 */
export const completionsScript = <Name extends string, R, E, A>(command: Command.Command<Name, R, E, A>, programName: string, shell: Shell): string => {
  const lines =
    shell === "fish"
      ? Command.getFishCompletions(command, programName)
      : shell === "zsh"
        ? Command.getZshCompletions(command, programName)
        : Command.getBashCompletions(command, programName)
  const text = `${Effect.runSync(lines).join("\n")}\n`
  if (shell === "fish" || shell === "zsh") return text
  // @effect/cli's bash script writes the program's state with its "-" as "__" where a subcommand follows
  // (`null__worker__client,doctor)`), but sets it and matches it with the name as it is: past a hyphenated program
  // name, no subcommand was ever recognised, and `doctor --s<TAB>` offered the client's flags.
  const state = programName.replaceAll("-", "__")
  return text
    .replaceAll(`cmd="${programName}"`, `cmd="${state}"`)
    .replaceAll(`\n        ${programName})\n`, `\n        ${state})\n`)
    // It gives `compgen -W` a choice's values joined by commas, one word to bash: `--instance <TAB>` offered
    // `prod,alpha,candidate,local`, and `--instance c<TAB>` nothing.
    .replace(/compgen -W "([^"$]*)" -- /g, (_, words: string) => `compgen -W "${words.replaceAll(",", " ")}" -- `)
    // Nor does it complete its own flags' values (its zsh and fish scripts do): a word after --log-level was offered
    // the flags.
    .replaceAll(`            case "\${prev}" in\n`, `            case "\${prev}" in\n${BUILT_IN_VALUES}`)
}
