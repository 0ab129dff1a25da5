-- A failed attempt (PostgreSQL away, a timeout, a read that failed): counts it and makes the
-- session due again after min(base * 2^attempts, most) ms; its Redis keys stay. KEYS:
-- ArchiveKeys.keys. ARGV: session id, base delay (ms), most delay (ms), the queue keys' TTL (ms).
-- Answers the delay, or -1 when the entry is gone (completed meanwhile: not put back).
local now = now_ms()
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return -1
end
local attempts = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]))
local delay = math.min(tonumber(ARGV[2]) * 2 ^ math.min(attempts, 30), tonumber(ARGV[3]))
redis.call('ZADD', KEYS[1], 'XX', now + delay, ARGV[1])
return delay
