import Redis

/// Every change that touches more than one key is one of these scripts, so gateways racing each
/// other can never break an invariant (capacity, revision order, token ownership).
///
/// Each session script takes the same KEYS, all hash-tagged to one slot:
///   1 ci:{id}:session (hash)  2 ci:{id}:participants (hash id -> JSON)  3 ci:{id}:tokens (hash
///   token hash -> participant id)  4 ci:{id}:history (capped list of JSON)  5 ci:{id}:gone
///   (why a session no longer exists: "expired" or "deleted"; outlives the session for 410s)
/// Errors are error replies whose first word the Swift side maps: NOTFOUND, GONE <why>, FULL,
/// FORBIDDEN, UNAUTHORIZED, CONFLICT. Time comes from Redis (TIME) so every gateway shares one clock.
enum Scripts {
    static func keys(_ id: String) -> [String] {
        ["ci:{\(id)}:session", "ci:{\(id)}:participants", "ci:{\(id)}:tokens", "ci:{\(id)}:history", "ci:{\(id)}:gone"]
    }

    private static let prelude = """
    local function now_ms()
      local t = redis.call('TIME')
      return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    end
    local function load_session(now, allow_ended)
      local flat = redis.call('HGETALL', KEYS[1])
      if #flat == 0 then
        local gone = redis.call('GET', KEYS[5])
        if gone then return nil, redis.error_reply('GONE ' .. gone) end
        return nil, redis.error_reply('NOTFOUND')
      end
      local s = {}
      for i = 1, #flat, 2 do s[flat[i]] = flat[i + 1] end
      if tonumber(s.expires_at) <= now then return nil, redis.error_reply('GONE expired') end
      if s.status == 'completed' and not allow_ended then return nil, redis.error_reply('GONE ended') end
      return s
    end
    -- A token check: '' means no token was presented.
    local function require_host(s, presented, what)
      if presented == '' then return redis.error_reply('UNAUTHORIZED ' .. what .. ' needs the host token') end
      if presented ~= s.host_token_hash then return redis.error_reply('FORBIDDEN ' .. what .. ' needs the host token; this token is not it') end
      return nil
    end
    local function push_history(event, limit, expires)
      redis.call('RPUSH', KEYS[4], cjson.encode(event))
      redis.call('LTRIM', KEYS[4], -limit, -1)
      redis.call('PEXPIREAT', KEYS[4], expires)
    end
    local function participant_list()
      local list = {}
      for _, raw in ipairs(redis.call('HVALS', KEYS[2])) do
        local p = cjson.decode(raw)
        p.token_hash = nil
        table.insert(list, p)
      end
      table.sort(list, function(a, b)
        if a.joined_at == b.joined_at then return a.id < b.id end
        return a.joined_at < b.joined_at
      end)
      return list
    end
    local function view(s)
      s.host_token_hash = nil
      return cjson.encode({session = s, participants = participant_list()})
    end
    local function add_participant(p, expires)
      redis.call('HSET', KEYS[2], p.id, cjson.encode(p))
      redis.call('HSET', KEYS[3], p.token_hash, p.id)
      redis.call('PEXPIREAT', KEYS[2], expires)
      redis.call('PEXPIREAT', KEYS[3], expires)
    end

    """

    /// ARGV: ttl_ms, name, code, language, max_participants, host_token_hash, history_limit,
    /// gone_retention_ms, then optionally the creator: id, name, color, token_hash.
    static let create = RedisScript(name: "create", source: prelude + """
    local now = now_ms()
    if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[5]) == 1 then
      return redis.error_reply('CONFLICT session id already in use')
    end
    local expires = now + tonumber(ARGV[1])
    local limit = tonumber(ARGV[7])
    redis.call('HSET', KEYS[1], 'id', string.match(KEYS[1], '{(.*)}'), 'name', ARGV[2], 'code', ARGV[3],
      'language', ARGV[4], 'revision', 0, 'status', 'active', 'created_at', now, 'updated_at', now,
      'expires_at', expires, 'max_participants', ARGV[5], 'host_token_hash', ARGV[6])
    redis.call('PEXPIREAT', KEYS[1], expires)
    redis.call('SET', KEYS[5], 'expired', 'PXAT', expires + tonumber(ARGV[8]))
    push_history({type = 'created', at = now, language = ARGV[4]}, limit, expires)
    if ARGV[9] and ARGV[9] ~= '' then
      local p = {id = ARGV[9], name = ARGV[10], role = 'interviewer', color = ARGV[11], joined_at = now, token_hash = ARGV[12]}
      add_participant(p, expires)
      push_history({type = 'joined', at = now, user_id = p.id, name = p.name, role = p.role}, limit, expires)
    end
    return view(load_session(now, true))
    """)

    /// ARGV: id, name, role, token_hash, presented token hash, history_limit, palette (comma list).
    static let join = RedisScript(name: "join", source: prelude + """
    local now = now_ms()
    local s, err = load_session(now, false)
    if not s then return err end
    if ARGV[3] == 'interviewer' then
      local denied = require_host(s, ARGV[5], 'joining as interviewer')
      if denied then return denied end
    end
    local count = redis.call('HLEN', KEYS[2])
    if count >= tonumber(s.max_participants) then return redis.error_reply('FULL ' .. count) end
    local used = {}
    for _, raw in ipairs(redis.call('HVALS', KEYS[2])) do used[cjson.decode(raw).color] = true end
    local color
    for c in string.gmatch(ARGV[7], '[^,]+') do
      if not used[c] then color = c break end
    end
    local p = {id = ARGV[1], name = ARGV[2], role = ARGV[3], color = color, joined_at = now, token_hash = ARGV[4]}
    add_participant(p, tonumber(s.expires_at))
    push_history({type = 'joined', at = now, user_id = p.id, name = p.name, role = p.role}, tonumber(ARGV[6]), tonumber(s.expires_at))
    p.token_hash = nil
    return cjson.encode(p)
    """)

    /// ARGV: participant id, presented token hash, history_limit.
    static let leave = RedisScript(name: "leave", source: prelude + """
    local now = now_ms()
    local s, err = load_session(now, false)
    if not s then return err end
    local raw = redis.call('HGET', KEYS[2], ARGV[1])
    if not raw then return redis.error_reply('NOTFOUND participant') end
    local p = cjson.decode(raw)
    if ARGV[2] == '' then return redis.error_reply('UNAUTHORIZED removing a participant needs their token or the host token') end
    if ARGV[2] ~= s.host_token_hash and ARGV[2] ~= p.token_hash then
      return redis.error_reply('FORBIDDEN this token may not remove that participant')
    end
    redis.call('HDEL', KEYS[2], p.id)
    redis.call('HDEL', KEYS[3], p.token_hash)
    push_history({type = 'left', at = now, user_id = p.id, name = p.name}, tonumber(ARGV[3]), tonumber(s.expires_at))
    return 1
    """)

    /// ARGV: code, language ('' keeps it), presented token hash ('' for none), history_limit.
    static let saveCode = RedisScript(name: "save_code", source: prelude + """
    local now = now_ms()
    local s, err = load_session(now, false)
    if not s then return err end
    local event = {type = 'code_saved', at = now}
    if ARGV[3] ~= '' then
      if ARGV[3] == s.host_token_hash then
        event.by_host = true
      else
        local id = redis.call('HGET', KEYS[3], ARGV[3])
        if not id then return redis.error_reply('FORBIDDEN this token does not belong to this session') end
        local p = cjson.decode(redis.call('HGET', KEYS[2], id))
        event.user_id = p.id
        event.name = p.name
      end
    end
    local expires = tonumber(s.expires_at)
    local limit = tonumber(ARGV[4])
    local revision = redis.call('HINCRBY', KEYS[1], 'revision', 1)
    redis.call('HSET', KEYS[1], 'code', ARGV[1], 'updated_at', now)
    if ARGV[2] ~= '' and ARGV[2] ~= s.language then
      redis.call('HSET', KEYS[1], 'language', ARGV[2])
      s.language = ARGV[2]
      push_history({type = 'language_changed', at = now, language = ARGV[2], user_id = event.user_id, name = event.name}, limit, expires)
    end
    event.revision = revision
    push_history(event, limit, expires)
    return cjson.encode({code = ARGV[1], language = s.language, revision = revision, updated_at = now})
    """)

    /// ARGV: presented token hash, history_limit, then flag/value pairs for
    /// code, language, status, name (flag '1' = change it).
    static let update = RedisScript(name: "update", source: prelude + """
    local now = now_ms()
    local s, err = load_session(now, false)
    if not s then return err end
    local presented = ARGV[1]
    local limit = tonumber(ARGV[2])
    local expires = tonumber(s.expires_at)
    local set_code, code = ARGV[3] == '1', ARGV[4]
    local set_language, language = ARGV[5] == '1', ARGV[6]
    local set_status, status = ARGV[7] == '1', ARGV[8]
    local set_name, name = ARGV[9] == '1', ARGV[10]
    if set_status and status == 'completed' then
      local denied = require_host(s, presented, 'ending a session')
      if denied then return denied end
    end
    if set_name and name ~= s.name then
      local denied = require_host(s, presented, 'renaming a session')
      if denied then return denied end
      redis.call('HSET', KEYS[1], 'name', name)
    end
    local changed = false
    if set_code and code ~= s.code then
      redis.call('HSET', KEYS[1], 'code', code)
      changed = true
    end
    if set_language and language ~= s.language then
      redis.call('HSET', KEYS[1], 'language', language)
      push_history({type = 'language_changed', at = now, language = language}, limit, expires)
      changed = true
    end
    if changed then
      local revision = redis.call('HINCRBY', KEYS[1], 'revision', 1)
      redis.call('HSET', KEYS[1], 'updated_at', now)
      if set_code then push_history({type = 'code_saved', at = now, revision = revision}, limit, expires) end
    end
    if set_status and status == 'completed' then
      redis.call('HSET', KEYS[1], 'status', 'completed', 'updated_at', now)
      push_history({type = 'ended', at = now}, limit, expires)
    end
    return view(load_session(now, true))
    """)

    /// ARGV: presented token hash, gone_retention_ms.
    static let delete = RedisScript(name: "delete", source: prelude + """
    local now = now_ms()
    local s, err = load_session(now, true)
    if not s then return err end
    local denied = require_host(s, ARGV[1], 'deleting a session')
    if denied then return denied end
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
    redis.call('SET', KEYS[5], 'deleted', 'PXAT', tonumber(s.expires_at) + tonumber(ARGV[2]))
    return 1
    """)

    /// No ARGV. The session with its participants.
    static let read = RedisScript(name: "read", source: prelude + """
    local s, err = load_session(now_ms(), false)
    if not s then return err end
    return view(s)
    """)

    /// ARGV: how many events, newest last.
    static let history = RedisScript(name: "history", source: prelude + """
    local s, err = load_session(now_ms(), false)
    if not s then return err end
    return redis.call('LRANGE', KEYS[4], -tonumber(ARGV[1]), -1)
    """)

    /// KEYS: ci:{nodes}:runners (zset id -> lease expiry ms), ci:{nodes}:runner-info (hash id -> JSON
    /// with a "languages" array of ids). Returns the language ids some live runner offers.
    static let availableLanguages = RedisScript(name: "available_languages", source: """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local seen, out = {}, {}
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
      local raw = redis.call('HGET', KEYS[2], id)
      if raw then
        local ok, info = pcall(cjson.decode, raw)
        if ok and type(info.languages) == 'table' then
          for _, language in ipairs(info.languages) do
            local lid = type(language) == 'table' and language.id or language
            if type(lid) == 'string' and not seen[lid] then seen[lid] = true table.insert(out, lid) end
          end
        end
      end
    end
    return out
    """)

    static let all: [RedisScript] = [create, join, leave, saveCode, update, delete, read, history, availableLanguages]
}
