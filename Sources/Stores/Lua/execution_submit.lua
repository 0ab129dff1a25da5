-- KEYS: queue, job. ARGS (after the key schema): id, language, code, stdin, limits JSON, session id, user id, user name,
-- max queued, retention ms, session history limit, languages (comma list, for the parked lists),
-- kind ('' or 'test-run'), and for a test run: tests JSON, compare, cases JSON, case count; for an
-- interactive run five empty strings and '1' ('repl': the language's REPL).
-- Returns {created_at, queue depth} (with the events of the interactive runs its reap ended: run it
-- with runPublishing); error BUSY <depth> when the queue is full.
local now = now_ms()
reap(now)
local depth = redis.call('LLEN', KEYS[1])
for language in string.gmatch(ARGS[12], '[^,]+') do depth = depth + redis.call('LLEN', PARKED .. language) end
if depth >= tonumber(ARGS[9]) then return redis.error_reply('BUSY ' .. depth) end
redis.call('HSET', KEYS[2], 'id', ARGS[1], 'state', 'queued', 'language', ARGS[2], 'code', ARGS[3], 'stdin', ARGS[4],
  'limits', ARGS[5], 'session_id', ARGS[6], 'user_id', ARGS[7], 'user_name', ARGS[8], 'created_at', now, 'attempts', 0)
if ARGS[13] == 'test-run' then
  redis.call('HSET', KEYS[2], 'kind', 'test-run', 'tests', ARGS[14], 'compare', ARGS[15], 'cases', ARGS[16], 'total', ARGS[17])
end
if ARGS[18] == '1' or ARGS[18] == 'repl' then redis.call('HSET', KEYS[2], 'interactive', ARGS[18]) end
redis.call('PEXPIRE', KEYS[2], ARGS[10])
redis.call('LPUSH', KEYS[1], ARGS[1])
if ARGS[6] ~= '' then
  local list = (ARGS[13] == 'test-run' and SESSION_TEST_RUNS or SESSION_JOBS) .. ARGS[6]
  redis.call('LPUSH', list, ARGS[1])
  redis.call('LTRIM', list, 0, tonumber(ARGS[11]) - 1)
  redis.call('PEXPIRE', list, ARGS[10])
end
return with_events({now, depth + 1})
