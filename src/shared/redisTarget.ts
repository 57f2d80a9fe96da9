/**
 * What a Redis address may be, for every program that takes one (the autoscale daemon, the Redis examples' dispatcher
 * and consumers): ioredis reads a `redis://` or `rediss://` URL, `unix://` and a bare host, host:port, port or socket
 * path, but takes `http://x` for the socket path `//x` and would try it for ever.
 */
export const isRedisTarget = (target: string): boolean => !/^[a-z][a-z\d+.-]*:\/\//i.test(target) || /^(rediss?|unix):\/\//i.test(target)

/** The rule `isRedisTarget` holds, for a message that names the setting. */
export const REDIS_TARGET_RULE = "must be a redis://, rediss:// or unix:// URL (or host:port), not another scheme"
