-- KEYS: job. ARGS (after the key schema): runner id, attempt, frame. Publishes an execution-output frame while the job
-- is still this runner's; 0 when it is not (requeued, or finished elsewhere).
local f = redis.call('HMGET', KEYS[1], 'state', 'runner_id', 'attempts', 'session_id')
if f[1] ~= 'running' or f[2] ~= ARGS[1] or f[3] ~= ARGS[2] then return with_events(0) end
publish_event(f[4], ARGS[3])
return with_events(1)
