-- A session archived (or with nothing left to archive): it leaves the queue with its attempts.
-- KEYS: ArchiveKeys.keys. ARGV: session id. Answers 1, or 0 when it was not queued.
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
