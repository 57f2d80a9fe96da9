import { execFileSync, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { MAX_COST } from "../../src/protocol/authData.js"
import { MAX_LIFETIME_SECONDS } from "../../src/protocol/session.js"
import { clientJs } from "./spawnClient.js"
import { freePort, spawnProcess } from "../support/process.js"

/** `node dist/client.js ...args` with stdout a pipe (not a terminal), its output and status. */
const run = async (args: ReadonlyArray<string>) => {
  const spawned = spawnProcess(process.execPath, [clientJs, ...args], {})
  const code = await spawned.exited
  return { code, output: spawned.output() }
}

/**
 * What bash offers for each line of words typed after the program's name (the last word being completed), through the
 * client's own `--completions bash` script.
 */
const bashOffers = async (lines: ReadonlyArray<string>): Promise<ReadonlyArray<string>> => {
  const { output: script } = await run(["--completions", "bash"])
  const calls = lines.map((words) => `complete_words null-worker-client ${words}`).join("\n")
  const offered = execFileSync(
    "bash",
    [
      "-c",
      `${script}
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _null-worker-client_bash_completions null-worker-client; echo "\${COMPREPLY[*]}"; }
${calls}`
    ],
    { encoding: "utf8" }
  )
  return offered.split("\n").slice(0, lines.length)
}

describe("--completions", () => {
  it("the client's and the serverless's scripts complete the installed commands (package.json's bin names)", async () => {
    const serverlessJs = fileURLToPath(new URL("../../dist/serverless.js", import.meta.url))
    for (const [script, command] of [[clientJs, "null-worker-client"], [serverlessJs, "null-worker-serverless"]] as const) {
      const spawned = spawnProcess(process.execPath, [script, "--completions", "bash"], {})
      expect(await spawned.exited).toBe(0)
      expect(spawned.output()).toMatch(new RegExp(`^complete -F _${command}_bash_completions .* ${command}$`, "m"))
    }
  })

  it("asked from a subcommand, the script is still the whole program's: it completes null-worker-client and its subcommands' flags", async () => {
    for (const subcommand of ["doctor", "autoscale"]) {
      const { code, output } = await run([subcommand, "--completions", "bash"])
      expect(code, subcommand).toBe(0)
      expect(output).toMatch(/^complete -F _null-worker-client_bash_completions .* null-worker-client$/m)
      expect(output).not.toMatch(/complete .* (doctor|autoscale)$/m)
      // The doctor's --worker and the daemon's --stream are completed after their subcommand's name.
      expect(output).toMatch(/null__worker__client__doctor\)\n\s+opts="[^"]*--worker/)
      expect(output).toMatch(/null__worker__client__autoscale\)\n\s+opts="[^"]*--stream/)
    }
  })

  it("in bash, a subcommand's flags are completed after its name, and the client's at the top", async () => {
    const offered = await bashOffers(["doctor --s", "doctor --wor", "autoscale --str", "--sess"])
    expect(offered).toEqual(["--sessions", "--worker", "--stream", "--session-cost"])
  })

  it("in bash, --instance's and --log-level's values are completed, not file names, whichever command (newcomer 37 #7)", async () => {
    const offered = await bashOffers(['--instance ""', "doctor --endpoint e --instance c", "autoscale --instance l", "--log-level w", 'doctor --log-level ""', "--completions z"])
    expect(offered).toEqual([
      "prod alpha candidate local",
      "candidate",
      "local",
      "warning",
      "all trace debug info warning error fatal none",
      "zsh"
    ])
  })

  it("zsh's and fish's scripts list --instance's values; the flag still parses as before (its refusal names it and the value)", async () => {
    const zsh = await run(["--completions", "zsh"])
    expect(zsh.output).toMatch(/'--instance\[[^\n]*\]:CHOICE:\(prod alpha candidate local\)' \\$/m)
    const fish = await run(["doctor", "--completions", "fish"])
    expect(fish.output).toMatch(/__fish_seen_subcommand_from doctor" -l instance -r -f -a "\{prod'',alpha'',candidate'',local''\}"/)
    const refused = await run(["--instance", "Prod", "--endpoint", "x"])
    expect([refused.code, refused.output]).toEqual([1, '--instance must be one of prod, alpha, candidate, local, not "Prod"\n'])
  })

  it("a shell it does not know, or none, is one line naming the shells, exit 1", async () => {
    for (const [args, message] of [
      [["--completions", "foo"], '--completions needs a shell: bash, fish, sh, zsh (not "foo")'],
      [["doctor", "--completions=powershell"], '--completions needs a shell: bash, fish, sh, zsh (not "powershell")'],
      [["--completions"], "--completions needs a shell: bash, fish, sh, zsh"]
    ] as const) {
      const { code, output } = await run(args)
      expect(code, args.join(" ")).toBe(1)
      expect(output.trim(), args.join(" ")).toBe(message)
    }
    const serverless = spawnProcess(process.execPath, [fileURLToPath(new URL("../../dist/serverless.js", import.meta.url)), "--completions", "tcsh"], {})
    expect(await serverless.exited).toBe(1)
    expect(serverless.output().trim()).toBe('--completions needs a shell: bash, fish, sh, zsh (not "tcsh")')
  })

  it("a program that is not an installed command (the demo, the examples' runners) has none: one line, exit 1", async () => {
    for (const [script, name] of [["../../dist/demo.js", "null-worker demo"], ["../../dist/examples/autoscale-example.js", "autoscale example"]] as const) {
      const spawned = spawnProcess(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), "--completions", "bash"], {})
      expect(await spawned.exited, name).toBe(1)
      expect(spawned.output().trim()).toBe(`${name} is not an installed command: it has no shell completions (--help lists its flags)`)
    }
  })
})

describe("node dist/client.js --help", () => {
  it("is short: one line per flag with its default, no ANSI codes when piped, exit 0", async () => {
    for (const args of [["--help"], ["-h"], ["--endpoint", "x", "--help"]]) {
      const { code, output } = await run(args)
      expect(code).toBe(0)
      expect(output).not.toContain("\x1b")
      expect(output).not.toContain("This setting is optional")
      expect(output.split("\n").length).toBeLessThan(40)
      expect(output).toMatch(/^ {2}--session-cost N +.* \(default 100\)$/m)
      expect(output).toMatch(/^ {2}--count N +--demo: number of sessions \(default 3\)$/m)
      // A log store fed --json gets the worker URLs' credentials and queries: said where --json is (probe 51 F10).
      expect(output).toMatch(/^ {2}--json +one JSON object per event, per line; worker URLs are given verbatim, credentials and query included$/m)
      expect(output.replace(/\n/g, " ")).toContain("130 after Ctrl-C and 143 after SIGTERM, 129 after SIGHUP and 140 after SIGUSR2")
      // Every status the README's table lists (newcomer 37 #9).
      expect(output).toMatch(/131 after Ctrl-\\ \(SIGQUIT\)/)
      // @effect/cli's own flags are listed too.
      expect(output).toMatch(/^ {2}--completions SHELL +print a completion script: bash, zsh, fish or sh$/m)
      expect(output).toMatch(/^ {2}--wizard +/m)
      expect(output).toMatch(/^ {2}--log-level LEVEL +/m)
    }
  })

  it("doctor --help describes the doctor's own flags", async () => {
    const { code, output } = await run(["doctor", "--help"])
    expect(code).toBe(0)
    expect(output).toMatch(/^ {2}--sessions N +.* \(default 1\)$/m)
    expect(output).toMatch(/^ {2}--worker URL /m)
    expect(output).not.toContain("--hold")
  })

  it("a flag given without its value (last, or before another flag) is one line naming the value it needs, exit 1", async () => {
    for (const [args, message] of [
      [["--endpoint", "x", "--hold"], "--hold needs a value (SECONDS); --help lists the flags"],
      [["--hold", "--endpoint", "x"], "--hold needs a value (SECONDS); --help lists the flags"],
      [["autoscale", "--endpoint", "e", "--list"], "--list needs a value (KEY); --help lists the flags"],
      [["doctor", "--endpoint", "e", "--worker"], "--worker needs a value (URL); --help lists the flags"],
      [["--endpoint=", "--hold", "3"], "--endpoint needs a value (NAME); --help lists the flags"],
      [["--endpoint", "x", "--hold="], "--hold needs a value (SECONDS); --help lists the flags"]
    ] as const) {
      const { code, output } = await run(args)
      expect(code, args.join(" ")).toBe(1)
      expect(output.trim(), args.join(" ")).toBe(message)
    }
  })

  it("without --endpoint or VAST_ENDPOINT, each command says the flag is required and what stands in for it: one line, exit 1", async () => {
    for (const args of [[], ["doctor"], ["autoscale", "--stream", "jobs"]]) {
      const { code, output } = await run(args)
      expect(code, args.join(" ")).toBe(1)
      expect(output, args.join(" ")).toBe("--endpoint NAME is required (the Serverless endpoint's name; required unless VAST_ENDPOINT is set)\n")
    }
  })

  it("an unknown flag is said as unknown (not as a missing --endpoint), escaped and cut, and an empty --endpoint (or queue key) as empty; each command, exit 1", async () => {
    for (const [args, message] of [
      [["--hodl"], "unknown flag --hodl; --help lists the flags"],
      [["-x"], "unknown flag -x; --help lists the flags"],
      [["--endpoint", " "], "--endpoint (or VAST_ENDPOINT) must not be empty"],
      // The queue's keys and the daemon's prefix: an empty one would name the key ":autoscale".
      [["autoscale", "--endpoint", "x", "--list", ""], "--list must not be empty"],
      [["autoscale", "--endpoint", "x", "--list", "q", "--in-flight-list", " "], "--in-flight-list must not be empty"],
      [["autoscale", "--endpoint", "x", "--stream", ""], "--stream must not be empty"],
      [["autoscale", "--endpoint", "x", "--stream", "s", "--group", ""], "--group must not be empty"],
      [["autoscale", "--endpoint", "x", "--stream", "s", "--state-prefix", ""], "--state-prefix must not be empty"],
      [["doctor", "--bogus=1"], "unknown flag --bogus; --help lists the flags"],
      [["--endpoint", "x", "--bo\u001bgus"], "unknown flag --bo\\x1bgus; --help lists the flags"],
      [[`--${"y".repeat(100)}`], `unknown flag --${"y".repeat(62)}…; --help lists the flags`]
    ] as const) {
      const { code, output } = await run(args)
      expect(code, args.join(" ")).toBe(1)
      expect(output, args.join(" ")).toBe(`${message}\n`)
    }
  })

  it("a stray word (a mistyped command, a value whose flag was lost) is one line naming it, the commands named where there are some, exit 1", async () => {
    for (const [args, message] of [
      [["doctr", "--endpoint", "x"], "unexpected argument doctr (a command comes first: doctor or autoscale); --help lists the flags"],
      [["--endpoint", "x", "3"], "unexpected argument 3 (a command comes first: doctor or autoscale); --help lists the flags"],
      [["doctor", "--endpoint", "x", "stray"], "unexpected argument stray; --help lists the flags"],
      [["autoscale", "--endpoint", "x", "--stream", "s", "extra"], "unexpected argument extra; --help lists the flags"],
      [["--endpoint", "x", "--demo", "maybe"], "unexpected argument maybe (a command comes first: doctor or autoscale); --help lists the flags"]
    ] as const) {
      const { code, output } = await run(args)
      expect(code, args.join(" ")).toBe(1)
      expect(output, args.join(" ")).toBe(`${message}\n`)
    }
    // A switch given its value, and the values of the flags every program takes, are not stray.
    const { output } = await run(["--log-level", "info", "--endpoint", "x", "--demo", "true", "--hold", "3"])
    expect(output).toBe("--hold is for single mode; with --demo the sessions are held for --plateau\n")
  })

  it("--log-level is taken wherever it is given (@effect/cli reads it only first), and a level it does not know is named, not a missing --endpoint (newcomer 26 #2)", async () => {
    for (const args of [
      ["--endpoint", "x", "--demo", "true", "--hold", "3", "--log-level", "info"],
      ["--endpoint", "x", "--log-level=error", "--demo", "true", "--hold", "3"]
    ]) {
      const { code, output } = await run(args)
      expect([code, output], args.join(" ")).toEqual([1, "--hold is for single mode; with --demo the sessions are held for --plateau\n"])
    }
    // Said once: @effect/cli, given --log-level itself, printed a flag's error twice (review 40 L4).
    const once = await run(["--log-level", "info", "--endpoint", "x", "--lifetime", "abc"])
    expect([once.code, once.output]).toEqual([1, "--lifetime must be a number of seconds, or one with a unit (ms, s, m, h, d): 90, 0.5, 250ms, 90s, 10m, 2h, 1d\n"])
    const { code, output } = await run(["--endpoint", "x", "--log-level", "--demo"])
    expect([code, output]).toEqual([1, "--log-level needs a value (LEVEL); --help lists the flags\n"])
    for (const args of [["--log-level", "bogus", "--endpoint", "x"], ["doctor", "--endpoint", "x", "--log-level=loud"]]) {
      const { code, output } = await run(args)
      expect([code, output], args.join(" ")).toEqual([1, `--log-level takes one of all, trace, debug, info, warning (or warn), error, fatal, none (in any case), not ${args.includes("bogus") ? "bogus" : "loud"}; --help lists the flags\n`])
    }
  })

  it("--log-level takes the worker's LOG_LEVEL words: warn for warning, and any case, in either form (newcomer 37 #3)", async () => {
    for (const args of [
      ["--endpoint", "x", "--demo", "true", "--hold", "3", "--log-level", "warn"],
      ["--log-level=Warn", "--endpoint", "x", "--demo", "true", "--hold", "3"],
      ["--log-level", "Warning", "--endpoint", "x", "--demo", "true", "--hold", "3"]
    ]) {
      // Past the level: the run's own check answers.
      const { code, output } = await run(args)
      expect([code, output], args.join(" ")).toEqual([1, "--hold is for single mode; with --demo the sessions are held for --plateau\n"])
    }
    const { output } = await run(["--help"])
    expect(output).toMatch(
      /^ {2}--log-level LEVEL +the least level of log line shown: all, trace, debug, info, warning \(or warn\), error, fatal, none \(in any case\) \(the client's events are not log lines: all shown\)$/m
    )
  })

  it("a choice or a file that is not one, or a flag given twice, is one line naming the flag, exit 1", async () => {
    for (const [args, message] of [
      [["--instance", "foo"], '--instance must be one of prod, alpha, candidate, local, not "foo"'],
      [["--instance", "x".repeat(5000)], `--instance must be one of prod, alpha, candidate, local, not "${"x".repeat(64)}…"`],
      [["--ca-file", "/nonexistent/ca.pem"], '--ca-file must name a file, and there is none at "/nonexistent/ca.pem"'],
      [["--ca-file", "/"], '--ca-file must name a file, and "/" is not one'],
      [["--endpoint", "y"], "--endpoint given more than once; --help lists the flags"],
      [["--hold=3", "--hold", "4"], "--hold given more than once; --help lists the flags"],
      // @effect/cli said "Received unknown argument: '--hold'" (client probe 51 F11).
      [["--", "--hold", "5"], "nothing after -- is read, and --hold follows it: every flag goes before a -- (npm run takes one, the program none); --help lists the flags"],
      [["--on-close-payload", `{"a":${"[".repeat(70)}${"]".repeat(70)}}`], "--on-close-payload must be JSON nested at most 62 levels deep"],
      [["--count", "2"], "--count is for --demo; without it the client holds one session (--hold)"],
      [["--plateau=9"], "--plateau is for --demo; without it the client holds one session (--hold)"],
      [["--demo", "--hold", "3"], "--hold is for single mode; with --demo the sessions are held for --plateau"],
      [["--on-close-payload", "{job:1}"], `--on-close-payload must be JSON, e.g. '{"job_id":"j1"}' (keys in double quotes): Expected property name or '}' in JSON at position 1`]
    ] as const) {
      const { code, output } = await run(["--endpoint", "x", ...args])
      expect(code, args.join(" ")).toBe(1)
      expect(output, args.join(" ")).toBe(`${message}\n`)
    }
  })

  it("--wizard with stdin not a terminal is refused at once (the wizard would wait for ever for answers), exit 1", async () => {
    for (const args of [["--wizard"], ["autoscale", "--wizard"], ["doctor", "--wizard"]]) {
      const { code, output } = await run(args)
      expect([code, output], args.join(" ")).toEqual([1, "--wizard asks its questions on a terminal, and stdin is not one; --help lists the flags\n"])
    }
  })

  it("a number that is not one, or a count that is not whole, is one line naming the flag, exit 1", async () => {
    for (const [args, message] of [
      [["--count", "1.5"], "--count must be a whole number of at least 1"],
      // Numbers, but not how a count is written (the worker's settings take digits only too).
      [["--count", "1e3"], "--count must be a whole number of at least 1, in decimal digits"],
      [["--count", "2.0"], "--count must be a whole number of at least 1, in decimal digits"],
      [["--count", "+2"], "--count must be a whole number of at least 1, in decimal digits"],
      [["--count", "abc"], "--count must be a number"],
      [["--count", "0x10"], "--count must be a number"],
      [["--count", " 3"], "--count must be a number"],
      [["--session-cost", "abc"], "--session-cost must be a number"]
    ] as const) {
      const { code, output } = await run(["--endpoint", "x", ...args])
      expect(code, args.join(" ")).toBe(1)
      // Exactly the line: @effect/cli's own print of it used to add an empty line after.
      expect(output, args.join(" ")).toBe(`${message}\n`)
    }
  })

  it("numeric flags refuse non-finite values and values a worker refuses, up front: one line, exit 1", async () => {
    const cases: ReadonlyArray<readonly [string, string, RegExp]> = [
      ["--lifetime", "Infinity", /^--lifetime must be a number above 0 and at most 604800 \(the worker.s limit\); seconds, or with a unit \(250ms, 90s, 10m\)$/],
      ["--lifetime", "1e400", /^--lifetime must be /],
      ["--lifetime", String(MAX_LIFETIME_SECONDS + 1), /^--lifetime must be /],
      ["--session-cost", "1e300", /^--session-cost must be a number above 0 and at most 1000000 /],
      ["--session-cost", String(MAX_COST + 1), /^--session-cost must be /],
      ["--hold", "Infinity", /^--hold must be a finite number above 0; seconds, or with a unit \(250ms, 90s, 10m\)$/],
      ["--interval", "NaN", /^--interval must be /],
      ["--plateau", "1e400", /^--plateau must be /],
      ["--route-timeout", "-Infinity", /^--route-timeout must be /],
      // Past 2^31 − 1 ms Effect's live clock never wakes: such a hold would never end (probe 51 F5).
      ["--hold", "2147484", /^--hold must be at most 2147483 seconds /],
      ["--plateau", "2200000", /^--plateau must be at most 2147483 seconds /],
      ["--interval", "3e6", /^--interval must be at most 2147483 seconds /],
      ["--route-timeout", "1e9", /^--route-timeout must be at most 2147483 seconds /]
    ]
    const runs = await Promise.all(cases.map(([flag, value]) => run(["--endpoint", "x", flag, value])))
    for (const [[flag, value, message], { code, output }] of cases.map((c, i) => [c, runs[i] ?? { code: null, output: "" }] as const)) {
      expect(code, `${flag} ${value}`).toBe(1)
      expect(output.trim(), `${flag} ${value}`).toMatch(message)
      expect(output.trim().split("\n"), `${flag} ${value}`).toHaveLength(1)
    }
  })
})

describe("--help and --version to a reader that has gone (`| head -1`, `| true`)", () => {
  it("each program exits 0 without an EPIPE trace", async () => {
    const dist = (file: string) => fileURLToPath(new URL(`../../dist/${file}`, import.meta.url))
    for (const [file, args] of [
      ["client.js", ["--help"]],
      ["client.js", ["autoscale", "--help"]],
      ["client.js", ["--version"]],
      ["serverless.js", ["--help"]],
      ["demo.js", ["--help"]],
      ["examples/redis-example.js", ["--help"]]
    ] as const) {
      // The read end of stdout is closed before the program (which takes a tenth of a second to load) writes.
      const child = spawn(process.execPath, [dist(file), ...args], { stdio: ["ignore", "pipe", "pipe"] })
      child.stdout.destroy()
      let stderr = ""
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve))
      expect([code, stderr], `${file} ${args.join(" ")}`).toEqual([0, ""])
    }
  })
})

describe("node dist/demo.js --help", () => {
  it("is the same short form: every flag with its default, no ANSI codes, exit 0, and no demo is run", async () => {
    const spawned = spawnProcess(process.execPath, [fileURLToPath(new URL("../../dist/demo.js", import.meta.url)), "--help"], {})
    expect(await spawned.exited).toBe(0)
    const output = spawned.output()
    expect(output).not.toContain("\x1b")
    expect(output).not.toContain("local serverless on")
    for (const [flag, fallback] of [["count N", "3"], ["interval SECONDS", "2"], ["plateau SECONDS", "4"], ["inactivity-timeout SECONDS", "2; none with --vast-defaults"], ["session-cost COST", "100"], ["timeout SECONDS", "120"]]) {
      expect(output).toMatch(new RegExp(`^ {2}--${flag} +.* \\(default ${fallback}\\)$`, "m"))
    }
    expect(output).toMatch(/^ {2}--vast-defaults +/m)
  })
  it("a bad number is one line naming the flag, exit 1, with no error object", async () => {
    const spawned = spawnProcess(process.execPath, [fileURLToPath(new URL("../../dist/demo.js", import.meta.url)), "--count", "abc"], {})
    expect(await spawned.exited).toBe(1)
    expect(spawned.output()).toBe("--count must be a number\n")
    // 0 or less is "never" to the serverless: a demo that waits for the scale-down could not pass.
    for (const value of ["0", "-1"]) {
      const never = spawnProcess(process.execPath, [fileURLToPath(new URL("../../dist/demo.js", import.meta.url)), "--inactivity-timeout", value], {})
      expect(await never.exited, value).toBe(1)
      expect(never.output(), value).toBe("--inactivity-timeout must be a finite number above 0; seconds, or with a unit (250ms, 90s, 10m)\n")
    }
  })
  it("a flag that npm took for itself (npm run demo --count 4, -- forgotten) is named with the command that passes it on, exit 1, and no demo is run (newcomer 35 #10)", async () => {
    const spawned = spawnProcess(process.execPath, [fileURLToPath(new URL("../../dist/demo.js", import.meta.url)), "4"], { npm_lifecycle_event: "demo", npm_config_count: "true" })
    expect(await spawned.exited).toBe(1)
    expect(spawned.output()).toBe("npm took --count for itself, so it never reached the program: with npm run, the program's flags go after --, as in npm run demo -- --count 4\n")
  })
})

describe("node dist/client.js against a control plane on this machine that is not up", () => {
  it("says so in one line: the URL once, what Node said, and what to start; the doctor too; exit 1", async () => {
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const flags = ["--endpoint", "x", "--webserver-url", base, "--autoscaler-url", base]
    for (const args of [[...flags, "--hold", "1"], ["doctor", ...flags]]) {
      const spawned = spawnProcess(process.execPath, [clientJs, ...args], { VAST_API_KEY: "k" })
      expect(await spawned.exited, args.join(" ")).toBe(1)
      const line = spawned.output().split("\n").find((text) => text.includes("endpoint lookup")) ?? ""
      expect(line, args.join(" ")).toContain(
        `${base}/api/v0/endptjobs/ did not answer: connect ECONNREFUSED 127.0.0.1:${port}; nothing listens there: start the local serverless (node dist/serverless.js, on port 8080 for --instance local), or point --webserver-url at a running one`
      )
      expect(line.split(base).length - 1, line).toBe(1)
      expect(line.split("endpoint lookup").length - 1, line).toBe(1)
      expect(line).not.toContain("Transport error")
    }
  })
})
