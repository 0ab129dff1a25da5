-- KEYS: leases, the runner's processing list. ARGS (after the key schema): runner id. A runner leaving cleanly gives
-- back whatever it still holds.
local n = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do n = n + requeue(id) end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGS[1])
return with_events({n})
