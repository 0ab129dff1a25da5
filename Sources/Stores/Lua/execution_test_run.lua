-- KEYS: a job. The fields a test run's view needs (not its code or tests), with the results
-- of the cases finished so far while it runs.
local names = {'state', 'kind', 'language', 'session_id', 'user_id', 'user_name', 'created_at', 'started_at',
  'finished_at', 'runner_id', 'attempts', 'limits', 'result', 'status', 'summary', 'compare', 'cases', 'total'}
local head = redis.call('HMGET', KEYS[1], 'state', 'total')
if head[1] and head[1] ~= 'done' then
  for i = 0, (tonumber(head[2]) or 0) - 1 do table.insert(names, 'case:' .. i) end
end
local f = redis.call('HMGET', KEYS[1], unpack(names))
local out = {}
for i, name in ipairs(names) do
  if f[i] then table.insert(out, name) table.insert(out, f[i]) end
end
return out
