import Redis

/// Redis keys of code execution. Every job key shares the `{jobs}` hash tag, so each script below
/// touches one Redis Cluster slot; the per-job and per-runner keys a script derives from its
/// arguments (job hashes, other runners' processing lists) are in that same slot.
///
///   ci:{jobs}:queue                LIST  job ids waiting; gateways LPUSH, runners BLMOVE RIGHT→LEFT
///                                        into their processing list (requeued jobs are RPUSHed:
///                                        they come out next)
///   ci:{jobs}:parked:<language>    LIST  jobs a runner pulled but could not run (it lacks the
///                                        language); runners that offer it take them first
///   ci:{jobs}:processing:<runner>  LIST  jobs a runner holds (pulled, claimed or running)
///   ci:{jobs}:leases               ZSET  runner id → lease expiry (Unix ms); renewed every heartbeat.
///                                        Whoever sees an expired lease first (a runner's heartbeat,
///                                        a gateway's submit) requeues that runner's jobs.
///   ci:{jobs}:job:<id>             HASH  state (queued|running|done), language, code, stdin, limits,
///                                        session_id, user_id, user_name, created_at, started_at,
///                                        finished_at, runner_id, attempts, result, status, summary;
///                                        a test run also kind (test-run), tests (every case, in run
///                                        order), cases ({name, hidden} of each), total, compare,
///                                        and case:<i> (the result of case i, while it runs);
///                                        expires `retention` after submit and again after finish
///   ci:{jobs}:session:<session>    LIST  a session's execution ids, newest first, capped
///   ci:{jobs}:test-runs:<session>  LIST  a session's test run ids, newest first, capped
///   ci:{jobs}:done:<id>            channel: the job's status, published once when its result is written
///   ci:{jobs}:stats                HASH  "language:status" -> count of finished executions (/metrics)
///   ci:{<session>}:events          channel: execution-started / -output / -result frames, and
///                                        test-run-started, test-case-result and test-run-result
///                                        (their candidate view, exclude "~interviewers")
///   ci:{<session>}:private         channel: test-case-result and test-run-result whole, for
///                                        interviewers
public enum ExecutionKeys {
    public static let queue = "ci:{jobs}:queue"
    public static let leases = "ci:{jobs}:leases"
    /// HASH "language:status" -> executions finished so, for /metrics.
    public static let stats = "ci:{jobs}:stats"
    public static func job(_ id: String) -> String { "ci:{jobs}:job:\(id)" }
    public static func processing(_ runner: String) -> String { "ci:{jobs}:processing:\(runner)" }
    public static func parked(_ language: String) -> String { "ci:{jobs}:parked:\(language)" }
    public static func session(_ id: String) -> String { "ci:{jobs}:session:\(id)" }
    public static func testRuns(_ id: String) -> String { "ci:{jobs}:test-runs:\(id)" }
    public static func done(_ id: String) -> String { "ci:{jobs}:done:\(id)" }
    public static func events(_ sessionID: String) -> String { SessionKeys(sessionID).channel }
    public static let runners = "ci:{nodes}:runners"
    public static let runnerInfo = "ci:{nodes}:runner-info"
}

extension RedisConnection {
    /// Runs a job script that publishes session events (claim, output, testCase, finish): they
    /// answer {result, {channel, message, ...}}, and the events are SPUBLISHed here, each to its
    /// session's slot, after the script's change is in (on Redis Cluster a script in the {jobs} slot
    /// cannot publish to a session's). One connection per node keeps them in the scripts' order.
    /// Completes with the script's own result.
    public func runPublishing(_ script: RedisScript, keys: [String], arguments: [String], _ completion: @escaping Completion) {
        run(script, keys: keys, arguments: arguments) { [weak self] result in
            guard case .success(let value) = result, let parts = value.array, parts.count == 2 else { return completion(result) }
            let events = parts[1].array ?? []
            for index in stride(from: 0, to: events.count - 1, by: 2) {
                guard let channel = events[index].bytes, let message = events[index + 1].bytes else { continue }
                self?.send(bytes: [Array("SPUBLISH".utf8), channel, message]) { _ in }
            }
            completion(.success(parts[0]))
        }
    }
}

/// The job life cycle, one Lua script per state change (so gateways and runners racing each other
/// cannot break job ownership or write two results):
///
///   submit ─► queued ──BLMOVE──► (held, still queued) ──claim──► running ──finish──► done
///                ▲                      │ language not offered: parked      │
///                └──── requeue ◄────────┴── lease expired / not tracked ◄──┘
///
/// A result is written once: `finish` refuses a job that already has one, so a second run of a
/// requeued job can neither store nor publish a second result. A job claimed `maxAttempts` times
/// without a result ends as internal_error.
public enum ExecutionScripts {
    private static let prelude = """
    local JOB = 'ci:{jobs}:job:'
    local PROCESSING = 'ci:{jobs}:processing:'
    local PARKED = 'ci:{jobs}:parked:'
    local QUEUE = 'ci:{jobs}:queue'
    local LEASES = 'ci:{jobs}:leases'
    local function now_ms()
      local t = redis.call('TIME')
      return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    end
    -- On events: for candidates only (interviewers get the whole on private).
    local EXCEPT_INTERVIEWERS = '\(ChannelMessage.exceptInterviewers)'
    -- A ChannelMessage ("<exclude> <revision>\\n<frame>") on one of a session's channels. Not
    -- published here: on Redis Cluster the session's channels are in its slot, not in {jobs}, and a
    -- script touches one slot. Collected instead, returned with the result (with_events), and
    -- SPUBLISHed by the caller (RedisConnection.runPublishing).
    local EVENTS = {}
    local function publish_to(session_id, channel, exclude, frame)
      if session_id and session_id ~= '' then
        table.insert(EVENTS, 'ci:{' .. session_id .. '}:' .. channel)
        table.insert(EVENTS, exclude .. ' 0\\n' .. frame)
      end
    end
    local function with_events(result) return {result, EVENTS} end
    local function publish_event(session_id, frame) publish_to(session_id, 'events', '', frame) end
    local function event(kind, data, now) return '{"type":"' .. kind .. '","data":' .. data .. ',"timestamp":' .. now .. '}' end
    -- A held job goes back to the consuming end of the queue, unless it is finished or gone.
    local function requeue(id)
      local key = JOB .. id
      local state = redis.call('HGET', key, 'state')
      if not state or state == 'done' then return 0 end
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
    local function store_result(id, result, status, summary, now, retention, candidate)
      local key = JOB .. id
      redis.call('HSET', key, 'state', 'done', 'result', result, 'status', status, 'summary', summary, 'finished_at', now)
      redis.call('PEXPIRE', key, retention)
      redis.call('LREM', QUEUE, 0, id)
      local f = redis.call('HMGET', key, 'session_id', 'language', 'kind', 'total')
      if f[2] then redis.call('LREM', PARKED .. f[2], 0, id) end
      if f[3] == 'test-run' then
        for i = 0, (tonumber(f[4]) or 0) - 1 do redis.call('HDEL', key, 'case:' .. i) end
        publish_to(f[1], 'events', EXCEPT_INTERVIEWERS, event('test-run-result', candidate or result, now))
        publish_to(f[1], 'private', '', event('test-run-result', result, now))
      else
        -- Executions by language and status, for /metrics (at most languages x statuses fields).
        redis.call('HINCRBY', 'ci:{jobs}:stats', (f[2] or 'unknown') .. ':' .. status, 1)
        publish_event(f[1], event('execution-result', result, now))
      end
      -- The job's own channel is in {jobs}: published from here.
      redis.call('SPUBLISH', 'ci:{jobs}:done:' .. id, status)
    end

    """

    /// KEYS: queue, job. ARGV: id, language, code, stdin, limits JSON, session id, user id, user name,
    /// max queued, retention ms, session history limit, languages (comma list, for the parked lists),
    /// kind ('' or 'test-run'), and for a test run: tests JSON, compare, cases JSON, case count.
    /// Returns {created_at, queue depth}; error BUSY <depth> when the queue is full.
    public static let submit = RedisScript(name: "execution_submit", source: prelude + """
    local now = now_ms()
    reap(now)
    local depth = redis.call('LLEN', KEYS[1])
    for language in string.gmatch(ARGV[12], '[^,]+') do depth = depth + redis.call('LLEN', PARKED .. language) end
    if depth >= tonumber(ARGV[9]) then return redis.error_reply('BUSY ' .. depth) end
    redis.call('HSET', KEYS[2], 'id', ARGV[1], 'state', 'queued', 'language', ARGV[2], 'code', ARGV[3], 'stdin', ARGV[4],
      'limits', ARGV[5], 'session_id', ARGV[6], 'user_id', ARGV[7], 'user_name', ARGV[8], 'created_at', now, 'attempts', 0)
    if ARGV[13] == 'test-run' then
      redis.call('HSET', KEYS[2], 'kind', 'test-run', 'tests', ARGV[14], 'compare', ARGV[15], 'cases', ARGV[16], 'total', ARGV[17])
    end
    redis.call('PEXPIRE', KEYS[2], ARGV[10])
    redis.call('LPUSH', KEYS[1], ARGV[1])
    if ARGV[6] ~= '' then
      local list = (ARGV[13] == 'test-run' and 'ci:{jobs}:test-runs:' or 'ci:{jobs}:session:') .. ARGV[6]
      redis.call('LPUSH', list, ARGV[1])
      redis.call('LTRIM', list, 0, tonumber(ARGV[11]) - 1)
      redis.call('PEXPIRE', list, ARGV[10])
    end
    return {now, depth + 1}
    """)

    /// KEYS: the runner's processing list. ARGV: job id, runner id, offered languages as ",a,b,",
    /// max attempts, retention ms. Returns {'run', language, code, stdin, limits, session id,
    /// attempt, started_at, user id, kind, tests, compare}, or {'gone'|'done'|'bounce'|'failed'}
    /// when there is nothing to run. A test run's start clears what an earlier attempt published
    /// of its cases. Like output, testCase and finish, run with `runPublishing` (the events it
    /// publishes come back with the result).
    public static let claim = RedisScript(name: "execution_claim", source: prelude + """
    local now = now_ms()
    local id = ARGV[1]
    if not redis.call('LPOS', KEYS[1], id) then return with_events({'gone'}) end
    local key = JOB .. id
    local f = redis.call('HMGET', key, 'state', 'language', 'code', 'stdin', 'limits', 'session_id', 'user_id', 'user_name',
      'kind', 'tests', 'compare', 'cases', 'total')
    if not f[1] then redis.call('LREM', KEYS[1], 0, id) return with_events({'gone'}) end
    local test_run = f[9] == 'test-run' 
    if f[1] == 'done' then redis.call('LREM', KEYS[1], 0, id) return with_events({'done'}) end
    if not string.find(ARGV[3], ',' .. f[2] .. ',', 1, true) then
      redis.call('LREM', KEYS[1], 0, id)
      redis.call('HSET', key, 'state', 'queued')
      redis.call('LPUSH', PARKED .. f[2], id)
      return with_events({'bounce'})
    end
    local attempt = redis.call('HINCRBY', key, 'attempts', 1)
    if attempt > tonumber(ARGV[4]) then
      local message = 'the job was started ' .. (attempt - 1) .. ' times and each runner stopped before finishing it'
      local result
      if test_run then
        local cases = cjson.decode(f[12])
        for i, c in ipairs(cases) do
          c.status = 'internal_error' c.time_ms = 0 c.memory_kb = 0
          -- Each case still gets its one test-case-result (nothing in it is hidden from anyone).
          local data = cjson.encode({run_id = id, index = i - 1, name = c.name, hidden = c.hidden, status = c.status,
            time_ms = 0, memory_kb = 0})
          publish_to(f[6], 'events', EXCEPT_INTERVIEWERS, event('test-case-result', data, now))
          publish_to(f[6], 'private', '', event('test-case-result', data, now))
        end
        result = cjson.encode({run_id = id, status = 'internal_error', message = message, language = f[2], compare = f[11],
          passed = 0, total = #cases, cases = cases, compile_output = cjson.null, runner_id = ARGV[2], attempt = attempt - 1})
      else
        result = cjson.encode({job_id = id, status = 'internal_error', message = message, language = f[2],
          stdout = '', stderr = '', exit_code = cjson.null, signal = cjson.null, time_ms = {cpu = 0, wall = 0},
          memory_kb = 0, runner_id = ARGV[2], truncated = false, compile_output = cjson.null, attempt = attempt - 1})
      end
      -- A test run's result here holds no case's data: it is its own summary.
      store_result(id, result, 'internal_error', test_run and result or '{"status":"internal_error"}', now, tonumber(ARGV[5]))
      redis.call('LREM', KEYS[1], 0, id)
      return with_events({'failed'})
    end
    redis.call('HSET', key, 'state', 'running', 'runner_id', ARGV[2], 'started_at', now)
    if test_run then
      for i = 0, (tonumber(f[13]) or 0) - 1 do redis.call('HDEL', key, 'case:' .. i) end
      -- The cases' names and hidden flags only: the same for every role.
      local data = {run_id = id, language = f[2], session_id = f[6], runner_id = ARGV[2], attempt = attempt,
        compare = f[11], cases = cjson.decode(f[12]), user_id = cjson.null, name = cjson.null}
      if f[7] ~= '' then data.user_id = f[7] data.name = f[8] end
      publish_event(f[6], event('test-run-started', cjson.encode(data), now))
    elseif f[6] ~= '' then
      local data = {job_id = id, language = f[2], session_id = f[6], runner_id = ARGV[2], attempt = attempt}
      if f[7] ~= '' then data.user_id = f[7] data.name = f[8] end
      publish_event(f[6], event('execution-started', cjson.encode(data), now))
    end
    return with_events({'run', f[2], f[3], f[4], f[5], f[6], tostring(attempt), tostring(now), f[7], f[9] or '', f[10] or '', f[11] or ''})
    """)

    /// KEYS: job. ARGV: runner id, attempt, frame. Publishes an execution-output frame while the job
    /// is still this runner's; 0 when it is not (requeued, or finished elsewhere).
    public static let output = RedisScript(name: "execution_output", source: prelude + """
    local f = redis.call('HMGET', KEYS[1], 'state', 'runner_id', 'attempts', 'session_id')
    if f[1] ~= 'running' or f[2] ~= ARGV[1] or f[3] ~= ARGV[2] then return with_events(0) end
    publish_event(f[4], ARGV[3])
    return with_events(1)
    """)

    /// KEYS: job. ARGV: runner id, attempt, case index, the case's result, the test-case-result
    /// data for interviewers, the same for candidates. While the job is still this runner's: keeps
    /// the case's result (GET shows the run's progress) and publishes it, whole on the private
    /// channel, in the candidate view on the events channel. 0 when the job is not this runner's.
    public static let testCase = RedisScript(name: "execution_test_case", source: prelude + """
    local f = redis.call('HMGET', KEYS[1], 'state', 'runner_id', 'attempts', 'session_id')
    if f[1] ~= 'running' or f[2] ~= ARGV[1] or f[3] ~= ARGV[2] then return with_events(0) end
    redis.call('HSET', KEYS[1], 'case:' .. ARGV[3], ARGV[4])
    local now = now_ms()
    publish_to(f[4], 'events', EXCEPT_INTERVIEWERS, event('test-case-result', ARGV[6], now))
    publish_to(f[4], 'private', '', event('test-case-result', ARGV[5], now))
    return with_events(1)
    """)

    /// KEYS: job, the runner's processing list. ARGV: job id, result JSON, status, summary JSON,
    /// retention ms, and for a test run the result's candidate view. 1 when stored; 0 when the job
    /// already has its result (or is gone).
    public static let finish = RedisScript(name: "execution_finish", source: prelude + """
    redis.call('LREM', KEYS[2], 0, ARGV[1])
    if redis.call('EXISTS', KEYS[1]) == 0 then return with_events(0) end
    if redis.call('HEXISTS', KEYS[1], 'result') == 1 then return with_events(0) end
    store_result(ARGV[1], ARGV[2], ARGV[3], ARGV[4], now_ms(), tonumber(ARGV[5]), ARGV[6])
    return with_events(1)
    """)

    /// KEYS: the runner's processing list. ARGV: languages it offers. Moves one parked job into the
    /// processing list and returns its id, or nil.
    public static let pullParked = RedisScript(name: "execution_pull_parked", source: prelude + """
    for i = 1, #ARGV do
      local id = redis.call('LMOVE', PARKED .. ARGV[i], KEYS[1], 'RIGHT', 'LEFT')
      if id then return id end
    end
    return false
    """)

    /// KEYS: leases, the runner's processing list. ARGV: runner id, lease ms, held job ids as
    /// ",a,b,", running jobs as "id:attempt,...". Renews the lease; requeues jobs in the
    /// processing list the runner does not hold (a BLMOVE whose reply was lost); requeues the jobs
    /// of runners whose lease ran out. Returns {requeued count, {ids of running jobs no longer this
    /// runner's}}.
    public static let heartbeat = RedisScript(name: "execution_heartbeat", source: prelude + """
    local now = now_ms()
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
    local requeued = 0
    for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
      if not string.find(ARGV[3], ',' .. id .. ',', 1, true) then
        redis.call('LREM', KEYS[2], 0, id)
        requeued = requeued + requeue(id)
      end
    end
    requeued = requeued + reap(now)
    local lost = {}
    for entry in string.gmatch(ARGV[4], '[^,]+') do
      local id, attempt = string.match(entry, '^(.*):(%d+)$')
      local f = redis.call('HMGET', JOB .. id, 'state', 'runner_id', 'attempts')
      if f[1] ~= 'running' or f[2] ~= ARGV[1] or f[3] ~= attempt then table.insert(lost, id) end
    end
    return {requeued, lost}
    """)

    /// KEYS: leases, the runner's processing list. ARGV: runner id. A runner leaving cleanly gives
    /// back whatever it still holds.
    public static let release = RedisScript(name: "execution_release", source: prelude + """
    local n = 0
    for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do n = n + requeue(id) end
    redis.call('DEL', KEYS[2])
    redis.call('ZREM', KEYS[1], ARGV[1])
    return n
    """)

    /// KEYS: a session's job list (executions or test runs). ARGV: how many. The newest jobs'
    /// fields (no code, stdin, tests or output), as {id, field, value, ...} each.
    public static let sessionJobs = RedisScript(name: "execution_session_jobs", source: prelude + """
    local names = {'state', 'language', 'user_id', 'user_name', 'created_at', 'started_at', 'finished_at', 'runner_id',
      'attempts', 'status', 'summary', 'limits', 'session_id', 'kind', 'compare', 'cases', 'total'}
    local out = {}
    for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
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
    """)

    /// KEYS: a job. The fields a test run's view needs (not its code or tests), with the results
    /// of the cases finished so far while it runs.
    public static let testRun = RedisScript(name: "execution_test_run", source: prelude + """
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
    """)

    /// KEYS: ci:{nodes}:runners, ci:{nodes}:runner-info. ARGV: runner id, lease ms, info JSON.
    /// Registers (or renews) a runner; forgets runners silent for a minute.
    public static let registerRunner = RedisScript(name: "runner_register", source: """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - 60000)) do
      redis.call('ZREM', KEYS[1], id)
      redis.call('HDEL', KEYS[2], id)
    end
    return now
    """)

    /// KEYS: ci:{nodes}:runners, ci:{nodes}:runner-info. ARGV: runner id.
    public static let deregisterRunner = RedisScript(name: "runner_deregister", source: """
    redis.call('ZREM', KEYS[1], ARGV[1])
    redis.call('HDEL', KEYS[2], ARGV[1])
    return 1
    """)

    /// KEYS: the session's keys (SessionKeys.all). ARGV: presented token hash ('' for none), 'run' or
    /// 'read' (reading the history of an ended session is allowed), '1' to read the question too.
    /// Returns {revision, language, user id, user name, role ('host', the participant's role, or ''
    /// without a token), '1' and the question JSON or '0' and ''} (the text is read by the
    /// document reader, never here); errors NOTFOUND, GONE <why>, FORBIDDEN like the session scripts.
    public static let sessionContext = RedisScript(name: "execution_session_context", source: """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local s = redis.call('HMGET', KEYS[1], 'status', 'expires_at', 'revision', 'language', 'host_token_hash')
    if not s[1] then
      local gone = redis.call('GET', KEYS[5])
      if gone then return redis.error_reply('GONE ' .. gone) end
      return redis.error_reply('NOTFOUND')
    end
    if tonumber(s[2]) <= now then return redis.error_reply('GONE expired') end
    if s[1] == 'completed' and ARGV[2] ~= 'read' then return redis.error_reply('GONE ended') end
    local user_id, name, role = '', '', ''
    if ARGV[1] ~= '' and ARGV[1] == s[5] then
      role = 'host'
    elseif ARGV[1] ~= '' then
      local id = redis.call('HGET', KEYS[3], ARGV[1])
      if not id then return redis.error_reply('FORBIDDEN this token does not belong to this session') end
      local raw = redis.call('HGET', KEYS[2], id)
      if raw then
        local p = cjson.decode(raw)
        user_id, name, role = p.id, p.name, p.role or ''
      end
    end
    -- The question is read here, with the checks, so a test run gets the tests of this moment.
    local question = ARGV[3] == '1' and redis.call('GET', KEYS[15])
    if question then return {s[3], s[4], user_id, name, role, '1', question} end
    return {s[3], s[4], user_id, name, role, '0', ''}
    """)

    /// What a gateway loads.
    public static let gateway: [RedisScript] = [submit, sessionJobs, sessionContext, testRun]
    /// What a runner loads.
    public static let runner: [RedisScript] = [claim, output, testCase, finish, pullParked, heartbeat, release, registerRunner,
                                               deregisterRunner]
}
