/**
 * The line of a sidecar's last output that says why it exited. Node ends a crash with its version banner
 * (`Node.js v20.…`) after the stack and the error's fields, so its last line says nothing; the error line
 * (`Error: Cannot find module …`, `TypeError: …`, Python's `ModuleNotFoundError: …`) does. Without one, the last line
 * that is not the banner.
 */
const NODE_BANNER = /^Node\.js v\d/
const ERROR_LINE = /^[A-Za-z_.]*(?:Error|Exception)\b[^:]{0,80}:\s*\S/

export const sidecarExitReason = (tail: ReadonlyArray<string>): string | undefined => {
  const lines = tail.map((line) => line.trim()).filter((line) => line !== "" && !NODE_BANNER.test(line))
  for (let at = lines.length - 1; at >= 0; at--) if (ERROR_LINE.test(lines[at]!)) return lines[at]
  return lines.at(-1)
}
