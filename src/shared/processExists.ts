/**
 * Whether process `pid` exists: signal 0 checks without sending, and EPERM means it exists but is another user's. Any
 * other failure (none for a pid in range) is taken as "no".
 */
import { errnoOf } from "./errno.js"

export const processExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errnoOf(error) === "EPERM"
  }
}
