-- Node liveness. KEYS: NodeKeys.gateways (zset instance -> lease expiry ms), NodeKeys.gatewayInfo
-- (hash instance -> JSON), NodeKeys.gatewaySessions(instance) (set).
-- ARGV: instance id, lease ms, info JSON. Answers the instances whose lease ran out.
local now = now_ms()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[3], 3600000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 16)
