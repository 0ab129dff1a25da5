-- KEYS: NodeKeys.runners, NodeKeys.runnerInfo. ARGV: runner id, lease ms, info JSON.
-- Registers (or renews) a runner; forgets runners silent for a minute.
local now = now_ms()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - 60000)) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return now
