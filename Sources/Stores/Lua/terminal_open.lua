-- KEYS: the session's terminal (hash), its input stream. ARGV: job id, the starter's user id, ttl ms.
-- Makes job the session's one live interactive run (its input stream emptied); error BUSY <job>
-- when the session has one already. The runner renews the TTL while the run lives and deletes
-- both keys when it ends (terminal_close); a runner that died leaves them to expire.
local current = redis.call('HGET', KEYS[1], 'job')
if current then return redis.error_reply('BUSY ' .. current) end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'job', ARGV[1], 'user', ARGV[2], 'open', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
