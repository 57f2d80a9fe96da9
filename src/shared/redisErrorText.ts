/**
 * ioredis's connection errors in words a user can act on. A peer that is not a Redis server (an HTTP server, a TLS
 * port spoken to in plain text, an SSH daemon) answers bytes ioredis cannot read, and ioredis says
 * `Protocol error, got "H" as reply type byte. Please report this.`: a bug report it asks for, not the wrong address
 * it is. Any other message is returned as it came.
 */
const PROTOCOL_ERROR = /^Protocol error, got (".*?") as reply type byte/

export const redisErrorText = (message: string): string => {
  const protocol = PROTOCOL_ERROR.exec(message)
  if (protocol === null) return message
  return `the peer does not answer in the Redis protocol (its reply began with ${protocol[1]}): is this a Redis server's address?`
}
