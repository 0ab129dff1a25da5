-- KEYS: leases, the runner's processing list. ARGS (after the key schema): runner id, lease ms, held job ids as
-- ",a,b,", running jobs as "id:attempt,...". Renews the lease; requeues jobs in the
-- processing list the runner does not hold (a BLMOVE whose reply was lost); requeues the jobs
-- of runners whose lease ran out. Returns {requeued count, {ids of running jobs no longer this
-- runner's}}.
local now = now_ms()
redis.call('ZADD', KEYS[1], now + tonumber(ARGS[2]), ARGS[1])
local requeued = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if not string.find(ARGS[3], ',' .. id .. ',', 1, true) then
    redis.call('LREM', KEYS[2], 0, id)
    requeued = requeued + requeue(id)
  end
end
requeued = requeued + reap(now)
local lost = {}
for entry in string.gmatch(ARGS[4], '[^,]+') do
  local id, attempt = string.match(entry, '^(.*):(%d+)$')
  local f = redis.call('HMGET', JOB .. id, 'state', 'runner_id', 'attempts')
  if f[1] ~= 'running' or f[2] ~= ARGS[1] or f[3] ~= attempt then table.insert(lost, id) end
end
return with_events({requeued, lost})
