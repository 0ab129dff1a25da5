-- KEYS: job. ARGS (after the key schema): runner id, attempt, case index, the case's result, the test-case-result
-- data for interviewers, the same for candidates. While the job is still this runner's: keeps
-- the case's result (GET shows the run's progress) and publishes it, whole on the private
-- channel, in the candidate view on the events channel. 0 when the job is not this runner's.
local f = redis.call('HMGET', KEYS[1], 'state', 'runner_id', 'attempts', 'session_id')
if f[1] ~= 'running' or f[2] ~= ARGS[1] or f[3] ~= ARGS[2] then return with_events(0) end
redis.call('HSET', KEYS[1], 'case:' .. ARGS[3], ARGS[4])
local now = now_ms()
publish_to(f[4], EVENTS_CHANNEL, EXCEPT_INTERVIEWERS, frame('test-case-result', ARGS[6], now))
publish_to(f[4], PRIVATE_CHANNEL, '', frame('test-case-result', ARGS[5], now))
return with_events(1)
