import { Command, Options } from "@effect/cli"
import { describe, expect, it } from "vitest"
import { completionsRequest, completionsScript } from "../../src/shared/completions.js"

describe("completionsRequest", () => {
  it("reads the shell after --completions or after its =, anywhere before a --; nothing when not asked", () => {
    expect(completionsRequest(["--completions", "zsh"])).toEqual({ shell: "zsh" })
    expect(completionsRequest(["doctor", "--completions=fish"])).toEqual({ shell: "fish" })
    expect(completionsRequest(["--endpoint", "e", "--completions", "sh"])).toEqual({ shell: "sh" })
    expect(completionsRequest(["--endpoint", "e"])).toBeNull()
    expect(completionsRequest(["--", "--completions", "bash"])).toBeNull()
  })

  it("a missing or unknown shell is an error naming the shells, the given text shown printable and short", () => {
    expect(completionsRequest(["--completions"])).toEqual({ error: "--completions needs a shell: bash, fish, sh, zsh" })
    expect(completionsRequest(["--completions", "--json"])).toEqual({ error: "--completions needs a shell: bash, fish, sh, zsh" })
    expect(completionsRequest(["--completions="])).toEqual({ error: "--completions needs a shell: bash, fish, sh, zsh" })
    const error = completionsRequest(["--completions", `x\u001b[2J${"y".repeat(100)}`])
    expect(error).toEqual({ error: expect.stringMatching(/^--completions needs a shell: bash, fish, sh, zsh \(not "x\\x1b\[2Jy+"\)$/) })
    expect(JSON.stringify(error)).not.toContain("\u001b")
  })
})

describe("completionsScript", () => {
  it("completes the command's own name (ours are named as their bins); sh gets bash's script", () => {
    const command = Command.make("installed-name")
    const bash = completionsScript(command, "installed-name", "bash")
    expect(bash).toMatch(/^complete -F _installed-name_bash_completions .* installed-name$/m)
    expect(completionsScript(command, "installed-name", "sh")).toBe(bash)
    expect(completionsScript(command, "installed-name", "zsh")).toMatch(/^#compdef installed-name$/m)
    expect(completionsScript(command, "installed-name", "fish")).toContain("complete -c installed-name")
  })

  it("bash: a choice's values are separate words to compgen, and @effect/cli's own --log-level and --completions complete their values (newcomer 37 #7)", () => {
    const bash = completionsScript(Command.make("installed-name", { mode: Options.choice("mode", ["fast", "slow"]) }), "installed-name", "bash")
    expect(bash).toContain('--mode)\n                    COMPREPLY=( $(compgen -W "fast slow" -- "${cur}") )')
    expect(bash).toContain('--log-level)\n                    COMPREPLY=( $(compgen -W "all trace debug info warning error fatal none" -- "${cur}") )')
    expect(bash).toContain('--completions)\n                    COMPREPLY=( $(compgen -W "bash fish sh zsh" -- "${cur}") )')
    // The flags themselves are still offered from the list of them.
    expect(bash).toContain('COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )')
  })
})
