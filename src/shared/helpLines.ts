/** The flags a help page lists, read back from the lines `renderHelp` writes (`  --name VALUE  description`). */

/** The line of `help` that lists `flag` (`  --endpoint NAME  the endpoint's name…`): its value's name and its description. */
export const helpLineOf = (help: string, flag: string): { readonly value: string | null; readonly description: string } | null => {
  const line = new RegExp(`^ {2}${flag}(?: ([A-Z][A-Z_]*))? +(.+)$`, "m").exec(help)
  return line === null ? null : { value: line[1] ?? null, description: line[2] ?? "" }
}

/** Every flag `help` lists, in its order (`--endpoint`, …). */
export const helpFlags = (help: string): Array<string> => Array.from(help.matchAll(/^ {2}(--[a-z0-9-]+)/gm), (match) => match[1] ?? "")
