-- KEYS: the runner's processing list. ARGS (after the key schema): job id, runner id, offered languages as ",a,b,",
-- max attempts, retention ms, '0' when the runner has no slot left for an interactive run. Returns {'run', language, code, stdin, limits, session id,
-- attempt, started_at, user id, kind, tests, compare, interactive ('1', 'repl' or '')}, or {'gone'|'done'|'bounce'|'failed'|'deferred'}
-- when there is nothing to run. A test run's start clears what an earlier attempt published
-- of its cases. Like output, testCase and finish, run with `runPublishing` (the events it
-- publishes come back with the result).
local now = now_ms()
local id = ARGS[1]
if not redis.call('LPOS', KEYS[1], id) then return with_events({'gone'}) end
local key = JOB .. id
local f = redis.call('HMGET', key, 'state', 'language', 'code', 'stdin', 'limits', 'session_id', 'user_id', 'user_name',
  'kind', 'tests', 'compare', 'cases', 'total', 'interactive')
if not f[1] then redis.call('LREM', KEYS[1], 0, id) return with_events({'gone'}) end
local test_run = f[9] == 'test-run' 
if f[1] == 'done' then redis.call('LREM', KEYS[1], 0, id) return with_events({'done'}) end
if not string.find(ARGS[3], ',' .. f[2] .. ',', 1, true) then
  redis.call('LREM', KEYS[1], 0, id)
  redis.call('HSET', key, 'state', 'queued')
  redis.call('LPUSH', PARKED .. f[2], id)
  return with_events({'bounce'})
end
-- An interactive run when the runner's interactive slots are taken: back to the far end of the
-- queue (the jobs behind it go first), not started, no attempt counted.
if (f[14] == '1' or f[14] == 'repl') and ARGS[6] == '0' then
  redis.call('LREM', KEYS[1], 0, id)
  redis.call('HSET', key, 'state', 'queued')
  redis.call('LPUSH', QUEUE, id)
  return with_events({'deferred'})
end
local attempt = redis.call('HINCRBY', key, 'attempts', 1)
if attempt > tonumber(ARGS[4]) then
  local message = 'the job was started ' .. (attempt - 1) .. ' times and each runner stopped before finishing it'
  local result
  if test_run then
    local cases = cjson.decode(f[12])
    for i, c in ipairs(cases) do
      c.status = 'internal_error' c.time_ms = 0 c.memory_kb = 0
      -- Each case still gets its one test-case-result (nothing in it is hidden from anyone).
      local data = cjson.encode({run_id = id, index = i - 1, name = c.name, hidden = c.hidden, status = c.status,
        time_ms = 0, memory_kb = 0})
      publish_to(f[6], EVENTS_CHANNEL, EXCEPT_INTERVIEWERS, frame('test-case-result', data, now))
      publish_to(f[6], PRIVATE_CHANNEL, '', frame('test-case-result', data, now))
    end
    result = cjson.encode({run_id = id, status = 'internal_error', message = message, language = f[2], compare = f[11],
      passed = 0, total = #cases, cases = cases, compile_output = cjson.null, runner_id = ARGS[2], attempt = attempt - 1})
  else
    result = cjson.encode({job_id = id, status = 'internal_error', message = message, language = f[2],
      stdout = '', stderr = '', exit_code = cjson.null, signal = cjson.null, time_ms = {cpu = 0, wall = 0},
      memory_kb = 0, runner_id = ARGS[2], truncated = false, compile_output = cjson.null, attempt = attempt - 1})
  end
  -- A test run's result here holds no case's data: it is its own summary.
  store_result(id, result, 'internal_error', test_run and result or '{"status":"internal_error"}', now, tonumber(ARGS[5]))
  redis.call('LREM', KEYS[1], 0, id)
  return with_events({'failed'})
end
redis.call('HSET', key, 'state', 'running', 'runner_id', ARGS[2], 'started_at', now)
if test_run then
  for i = 0, (tonumber(f[13]) or 0) - 1 do redis.call('HDEL', key, 'case:' .. i) end
  -- The cases' names and hidden flags only: the same for every role.
  local data = {run_id = id, language = f[2], session_id = f[6], runner_id = ARGS[2], attempt = attempt,
    compare = f[11], cases = cjson.decode(f[12]), user_id = cjson.null, name = cjson.null}
  if f[7] ~= '' then data.user_id = f[7] data.name = f[8] end
  publish_event(f[6], frame('test-run-started', cjson.encode(data), now))
elseif f[6] ~= '' then
  local data = {job_id = id, language = f[2], session_id = f[6], runner_id = ARGS[2], attempt = attempt}
  if f[7] ~= '' then data.user_id = f[7] data.name = f[8] end
  -- An interactive run: the room's pages show it on a terminal (mode 'repl': the language's REPL).
  if f[14] == '1' or f[14] == 'repl' then
    data.interactive = true
    data.mode = f[14] == 'repl' and 'repl' or 'program'
  end
  publish_event(f[6], frame('execution-started', cjson.encode(data), now))
end
return with_events({'run', f[2], f[3], f[4], f[5], f[6], tostring(attempt), tostring(now), f[7], f[9] or '', f[10] or '', f[11] or '', f[14] or ''})
