-- The archive queue as /metrics and cluster/status show it. KEYS: ArchiveKeys.keys. Answers
-- {size, overdue (due and unclaimed, or whose claim lapsed), the oldest overdue's due time (Unix
-- ms, 0 for none), now}.
local now = now_ms()
local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCOUNT', KEYS[1], '-inf', now), tonumber(oldest[2] or '0'), now}
