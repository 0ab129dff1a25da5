-- Node liveness. KEYS: ci:{nodes}:gateways (zset instance -> lease expiry ms),
-- ci:{nodes}:gateway-info (hash instance -> JSON), ci:{nodes}:gateway-sessions:<instance> (set).
-- ARGV: instance id, lease ms, info JSON. Answers the instances whose lease ran out.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[3], 3600000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 16)
