import { Command } from "@effect/cli"
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
})
