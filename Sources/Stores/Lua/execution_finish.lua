-- KEYS: job, the runner's processing list. ARGS (after the key schema): job id, result JSON, status, summary JSON,
-- retention ms, and for a test run the result's candidate view. 1 when stored; 0 when the job
-- already has its result (or is gone).
redis.call('LREM', KEYS[2], 0, ARGS[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return with_events(0) end
if redis.call('HEXISTS', KEYS[1], 'result') == 1 then return with_events(0) end
store_result(ARGS[1], ARGS[2], ARGS[3], ARGS[4], now_ms(), tonumber(ARGS[5]), ARGS[6])
return with_events(1)
