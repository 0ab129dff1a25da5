-- KEYS: a session's job list (executions or test runs). ARGS (after the key schema): how many. The newest jobs'
-- fields (no code, stdin, tests or output), as {id, field, value, ...} each.
local names = {'state', 'language', 'user_id', 'user_name', 'created_at', 'started_at', 'finished_at', 'runner_id',
  'attempts', 'status', 'summary', 'limits', 'session_id', 'kind', 'compare', 'cases', 'total'}
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGS[1]) - 1)) do
  local f = redis.call('HMGET', JOB .. id, unpack(names))
  if f[1] then
    local entry = {id}
    for i, name in ipairs(names) do
      if f[i] then table.insert(entry, name) table.insert(entry, f[i]) end
    end
    table.insert(out, entry)
  end
end
return out
