// Loaded into a program under test with `node --import`: every chunk the program hands to its stdout is also appended,
// synchronously, to `$NULL_TEST_STDOUT_COPY/<pid>`. A test whose reader is behind on the program's stdout pipe can see
// from it what the program wrote, and when, without reading the pipe.
import { appendFileSync } from "node:fs"
import { join } from "node:path"

const dir = process.env.NULL_TEST_STDOUT_COPY
if (dir !== undefined && dir !== "") {
  const copy = join(dir, String(process.pid))
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = (chunk, ...rest) => {
    appendFileSync(copy, chunk)
    return write(chunk, ...rest)
  }
}
