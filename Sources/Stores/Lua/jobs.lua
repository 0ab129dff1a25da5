-- The job layer (on top of lib.lua), the prelude of every job script (ExecutionScripts in Swift
-- puts lib.lua and this in front of each). Every job key is in the {jobs} slot; a script derives a
-- job's keys from the prefixes the Swift key schema (ExecutionKeys.schema) passes as the first
-- ARGV, in this order, and finds its own arguments in ARGS (ARGV after the schema):
--   job prefix, processing-list prefix, parked-list prefix, the queue, the leases, the stats hash,
--   done-channel prefix, a session's executions prefix, a session's test runs prefix, and a
--   session channel's prefix, events suffix and private suffix (prefix .. session id .. suffix).
local JOB, PROCESSING, PARKED, QUEUE, LEASES, STATS, DONE, SESSION_JOBS, SESSION_TEST_RUNS,
  SESSION_CHANNEL, EVENTS_CHANNEL, PRIVATE_CHANNEL, ARGS
-- On events: for candidates only (interviewers get the whole on private).
-- A channel message on one of a session's channels. Not published here: on Redis Cluster the
-- session's channels are in its slot, not in {jobs}, and a script touches one slot. Collected
-- instead, returned with the result (with_events), and SPUBLISHed by the caller
-- (RedisConnection.runPublishing).
local EVENTS
local function bind_jobs()
  JOB, PROCESSING, PARKED, QUEUE, LEASES, STATS, DONE, SESSION_JOBS, SESSION_TEST_RUNS,
    SESSION_CHANNEL, EVENTS_CHANNEL, PRIVATE_CHANNEL = unpack(ARGV, 1, 12)
  ARGS = {unpack(ARGV, 13)}
  EVENTS = {}
end
BINDERS.jobs = bind_jobs
-- A script run by EVAL binds here; a function of the library binds at each call (bind in lib.lua).
if ARGV then bind_jobs() end
local function publish_to(session_id, suffix, exclude, frame_json)
  if session_id and session_id ~= '' then
    table.insert(EVENTS, SESSION_CHANNEL .. session_id .. suffix)
    table.insert(EVENTS, channel_message(exclude, 0, frame_json))
  end
end
local function with_events(result) return {result, EVENTS} end
local function publish_event(session_id, frame_json) publish_to(session_id, EVENTS_CHANNEL, '', frame_json) end
local store_result
-- A held job goes back to the consuming end of the queue, unless it is finished or gone. An
-- interactive run that had started is never run again (the room typed into that program): it
-- ends as runner_lost.
local function requeue(id)
  local key = JOB .. id
  local f = redis.call('HMGET', key, 'state', 'interactive', 'language', 'runner_id', 'attempts')
  local state = f[1]
  if not state or state == 'done' then return 0 end
  if state == 'running' and (f[2] == '1' or f[2] == 'repl') then
    local now = now_ms()
    local result = cjson.encode({job_id = id, status = 'runner_lost',
      message = 'the runner running this interactive program stopped mid-run; it is not run again',
      language = f[3], stdout = '', stderr = '', exit_code = cjson.null, signal = cjson.null,
      time_ms = {cpu = 0, wall = 0}, memory_kb = 0, runner_id = f[4], truncated = false,
      compile_output = cjson.null, attempt = tonumber(f[5]) or 1})
    local retention = redis.call('PTTL', key)
    store_result(id, result, 'runner_lost', '{"status":"runner_lost"}', now, retention > 0 and retention or 86400000)
    return 0
  end
  redis.call('HSET', key, 'state', 'queued')
  redis.call('RPUSH', QUEUE, id)
  return 1
end
-- Every runner whose lease ran out loses its jobs to the queue.
local function reap(now)
  local n = 0
  for _, rid in ipairs(redis.call('ZRANGEBYSCORE', LEASES, '-inf', now)) do
    local list = PROCESSING .. rid
    for _, id in ipairs(redis.call('LRANGE', list, 0, -1)) do n = n + requeue(id) end
    redis.call('DEL', list)
    redis.call('ZREM', LEASES, rid)
  end
  return n
end
-- Stores the one result and tells the session and the waiting gateways. A test run's result
-- goes out twice: `candidate` (its candidate view) to the candidates, the whole result to the
-- interviewers; the cases' progress fields are dropped (the result holds every case).
store_result = function(id, result, status, summary, now, retention, candidate)
  local key = JOB .. id
  redis.call('HSET', key, 'state', 'done', 'result', result, 'status', status, 'summary', summary, 'finished_at', now)
  redis.call('PEXPIRE', key, retention)
  redis.call('LREM', QUEUE, 0, id)
  local f = redis.call('HMGET', key, 'session_id', 'language', 'kind', 'total')
  if f[2] then redis.call('LREM', PARKED .. f[2], 0, id) end
  if f[3] == 'test-run' then
    for i = 0, (tonumber(f[4]) or 0) - 1 do redis.call('HDEL', key, 'case:' .. i) end
    publish_to(f[1], EVENTS_CHANNEL, EXCEPT_INTERVIEWERS, frame('test-run-result', candidate or result, now))
    publish_to(f[1], PRIVATE_CHANNEL, '', frame('test-run-result', result, now))
  else
    -- Executions by language and status, for /metrics (at most languages x statuses fields).
    redis.call('HINCRBY', STATS, (f[2] or 'unknown') .. ':' .. status, 1)
    publish_event(f[1], frame('execution-result', result, now))
  end
  -- The job's own channel is in {jobs}: published from here.
  redis.call('SPUBLISH', DONE .. id, status)
end
