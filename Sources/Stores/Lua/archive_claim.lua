-- Claims the session most overdue for archiving: its score becomes the claim's lease expiry, so
-- no other archiver takes it until the lease passes (renewed while the archiver works; an
-- archiver that dies lets it pass, and the next claim takes the session). KEYS:
-- ArchiveKeys.keys. ARGV: lease (ms). Answers {session id, failed attempts so far, now} or nil.
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
if #due == 0 then return false end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), due[1])
return {due[1], tonumber(redis.call('HGET', KEYS[2], due[1]) or '0'), now}
