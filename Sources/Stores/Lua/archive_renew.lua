-- Extends a claim's lease while its archiver is still at work (a long save). KEYS:
-- ArchiveKeys.keys. ARGV: session id, lease (ms). Answers 1, or 0 when the entry is gone
-- (completed meanwhile: nothing to extend, nothing added back).
local now = now_ms()
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
return 1
