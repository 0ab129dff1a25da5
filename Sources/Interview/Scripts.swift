import Redis

/// Every change that touches more than one key is one of these scripts, so gateways racing each
/// other can never break an invariant (capacity, revision order, token ownership).
///
/// Each session script takes the same KEYS, all hash-tagged to one slot:
///   1 ci:{id}:session (hash)  2 ci:{id}:participants (hash id -> JSON)  3 ci:{id}:tokens (hash
///   token hash -> participant id)  4 ci:{id}:history (capped list of JSON)  5 ci:{id}:gone
///   (why a session no longer exists: "expired" or "deleted"; outlives the session for 410s)
///   6 ci:{id}:ops (capped list of committed op frames, one per revision, for catch-up)
///   7 ci:{id}:presence (hash connection id -> participant id: who is online, and where)
/// Errors are error replies whose first word the Swift side maps: NOTFOUND, GONE <why>, FULL,
/// FORBIDDEN, UNAUTHORIZED, CONFLICT, FUTURE, STALE, INVALID, TOOLARGE, TOOMANY.
/// Time comes from Redis (TIME) so every gateway shares one clock.
///
/// Changes are published from the script that made them, on ci:{id}:events, so every gateway sees
/// Redis' order. A message is "<exclude> <revision>\n<frame>": the connection that must not get
/// it (its author, who gets an ack instead), the document revision it carries (0 for none), and
/// the exact JSON text frame for clients.
enum Scripts {
    static func keys(_ id: String) -> [String] {
        ["ci:{\(id)}:session", "ci:{\(id)}:participants", "ci:{\(id)}:tokens", "ci:{\(id)}:history", "ci:{\(id)}:gone",
         "ci:{\(id)}:ops", "ci:{\(id)}:presence"]
    }

    public static func channel(_ id: String) -> String { "ci:{\(id)}:events" }

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
      local online = {}
      for _, pid in ipairs(redis.call('HVALS', KEYS[7])) do online[pid] = true end
      for _, raw in ipairs(redis.call('HVALS', KEYS[2])) do
        local p = cjson.decode(raw)
        p.token_hash = nil
        p.is_online = online[p.id] == true
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
    local function scalar_len(text)
      local _, n = string.gsub(text, '[^\\128-\\191]', '')
      return n
    end
    local function publish(exclude, revision, frame)
      redis.call('PUBLISH', (string.gsub(KEYS[1], ':session$', ':events')), exclude .. ' ' .. revision .. '\\n' .. frame)
    end
    local function frame(kind, data_json, now)
      return '{"type":"' .. kind .. '","data":' .. data_json .. ',"timestamp":' .. now .. '}'
    end
    -- The participant's public face, with its online state.
    local function public(p, online)
      return {id = p.id, user_id = p.id, name = p.name, role = p.role, color = p.color, joined_at = p.joined_at, is_online = online}
    end
    local function online_set()
      local set = {}
      for _, pid in ipairs(redis.call('HVALS', KEYS[7])) do set[pid] = true end
      return set
    end
    -- Commits `text` as the next revision: logs the op frame for catch-up, publishes it.
    -- ops_json is the operation that turned the old text into this one (trusted: built by a gateway).
    local function commit_text(text, ops_json, author, exclude, now, log_cap, expires)
      local revision = redis.call('HINCRBY', KEYS[1], 'revision', 1)
      redis.call('HSET', KEYS[1], 'code', text, 'updated_at', now)
      local data = '{"revision":' .. revision .. ',"ops":' .. ops_json
      if author then
        data = data .. ',"user_id":' .. cjson.encode(author.id) .. ',"name":' .. cjson.encode(author.name) .. ',"color":' .. cjson.encode(author.color)
      end
      local f = frame('op', data .. '}', now)
      redis.call('RPUSH', KEYS[6], f)
      redis.call('LTRIM', KEYS[6], -log_cap, -1)
      redis.call('PEXPIREAT', KEYS[6], expires)
      publish(exclude, revision, f)
      return revision
    end
    -- The op that replaces the whole text: delete all, insert the new.
    local function replace_ops(old, new)
      local parts = {}
      local n = scalar_len(old)
      if n > 0 then table.insert(parts, tostring(-n)) end
      if new ~= '' then table.insert(parts, cjson.encode(new)) end
      return '[' .. table.concat(parts, ',') .. ']'
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

    /// ARGV: id, name, role, token_hash, presented token hash, history_limit, palette (comma list),
    /// and for a WebSocket join the session's connection cap ('' for REST), checked first so a
    /// join refused for it takes no seat.
    static let join = RedisScript(name: "join", source: prelude + """
    local now = now_ms()
    local s, err = load_session(now, false)
    if not s then return err end
    if ARGV[3] == 'interviewer' and ARGV[5] ~= s.host_token_hash then
      return redis.error_reply('FORBIDDEN joining as interviewer needs the host token')
    end
    if ARGV[8] and ARGV[8] ~= '' and redis.call('HLEN', KEYS[7]) >= tonumber(ARGV[8]) then
      return redis.error_reply('TOOMANY connections')
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
    local presence = redis.call('HGETALL', KEYS[7])
    for i = 1, #presence, 2 do
      if presence[i + 1] == p.id then redis.call('HDEL', KEYS[7], presence[i]) end
    end
    push_history({type = 'left', at = now, user_id = p.id, name = p.name}, tonumber(ARGV[3]), tonumber(s.expires_at))
    local data = public(p, false)
    data.removed = true
    publish('', 0, frame('user-left', cjson.encode(data), now))
    return 1
    """)

    /// ARGV: code, language ('' keeps it), presented token hash ('' for none), history_limit, op log cap.
    static let saveCode = RedisScript(name: "save_code", source: prelude + """
    local now = now_ms()
    local s, err = load_session(now, false)
    if not s then return err end
    local event = {type = 'code_saved', at = now}
    local author
    if ARGV[3] ~= '' then
      if ARGV[3] == s.host_token_hash then
        event.by_host = true
      else
        local id = redis.call('HGET', KEYS[3], ARGV[3])
        if not id then return redis.error_reply('FORBIDDEN this token does not belong to this session') end
        author = cjson.decode(redis.call('HGET', KEYS[2], id))
        event.user_id = author.id
        event.name = author.name
      end
    end
    local expires = tonumber(s.expires_at)
    local limit = tonumber(ARGV[4])
    if ARGV[2] ~= '' and ARGV[2] ~= s.language then
      redis.call('HSET', KEYS[1], 'language', ARGV[2])
      s.language = ARGV[2]
      push_history({type = 'language_changed', at = now, language = ARGV[2], user_id = event.user_id, name = event.name}, limit, expires)
      local data = {language = ARGV[2]}
      if author then data.user_id = author.id data.name = author.name data.color = author.color end
      publish('', 0, frame('language-changed', cjson.encode(data), now))
    end
    local revision = commit_text(ARGV[1], replace_ops(s.code, ARGV[1]), author, '', now, tonumber(ARGV[5]), expires)
    event.revision = revision
    push_history(event, limit, expires)
    return cjson.encode({code = ARGV[1], language = s.language, revision = revision, updated_at = now})
    """)

    /// ARGV: presented token hash, history_limit, then flag/value pairs for
    /// code, language, status, name (flag '1' = change it), then the author's participant id ('' for
    /// none), the connection to exclude from the broadcast, the op log cap.
    /// A code change is a new revision; a language change is not (revisions number the text).
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
    local author
    if ARGV[11] ~= '' then
      local raw = redis.call('HGET', KEYS[2], ARGV[11])
      if raw then author = cjson.decode(raw) end
    end
    if set_language and language ~= s.language then
      redis.call('HSET', KEYS[1], 'language', language, 'updated_at', now)
      local event = {type = 'language_changed', at = now, language = language}
      local data = {language = language}
      if author then
        event.user_id = author.id event.name = author.name
        data.user_id = author.id data.name = author.name data.color = author.color
      end
      push_history(event, limit, expires)
      publish(ARGV[12], 0, frame('language-changed', cjson.encode(data), now))
    end
    local committed
    if set_code and code ~= s.code then
      local revision = commit_text(code, replace_ops(s.code, code), author, ARGV[12], now, tonumber(ARGV[13]), expires)
      committed = revision
      local event = {type = 'code_saved', at = now, revision = revision}
      if author then event.user_id = author.id event.name = author.name end
      push_history(event, limit, expires)
    end
    if set_status and status == 'completed' then
      redis.call('HSET', KEYS[1], 'status', 'completed', 'updated_at', now)
      push_history({type = 'ended', at = now}, limit, expires)
      publish('', 0, frame('session-ended', '{"session_id":' .. cjson.encode(s.id) .. '}', now))
    end
    local after = load_session(now, true)
    after.committed_revision = committed
    return view(after)
    """)

    /// ARGV: presented token hash, gone_retention_ms.
    static let delete = RedisScript(name: "delete", source: prelude + """
    local now = now_ms()
    local s, err = load_session(now, true)
    if not s then return err end
    local denied = require_host(s, ARGV[1], 'deleting a session')
    if denied then return denied end
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7])
    publish('', 0, frame('session-ended', '{"session_id":' .. cjson.encode(s.id) .. ',"deleted":true}', now))
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

    /// ARGV: base revision, ops (JSON, normalized by the gateway), connection id of the author,
    /// author participant id, max document bytes, op log cap.
    /// Commits at the current revision only. Otherwise answers {current revision, op frames since
    /// the base}, so the gateway transforms the op over them and tries again.
    static let submitOp = RedisScript(name: "submit_op", source: prelude + """
    local now = now_ms()
    local s, err = load_session(now, false)
    if not s then return err end
    local revision = tonumber(s.revision)
    local base = tonumber(ARGV[1])
    if base > revision then return redis.error_reply('FUTURE ' .. revision) end
    if base < revision then
      local missing = revision - base
      local entries = redis.call('LRANGE', KEYS[6], -missing, -1)
      if #entries < missing then return redis.error_reply('STALE ' .. revision) end
      table.insert(entries, 1, revision)
      return entries
    end
    -- Apply the op to the text, counting Unicode scalars (UTF-8 lead bytes).
    local doc, ops = s.code, cjson.decode(ARGV[2])
    local out, pos, len = {}, 1, #doc
    local function advance(n)
      local p = pos
      for _ = 1, n do
        if p > len then return nil end
        local b = string.byte(doc, p)
        if b < 0x80 then p = p + 1 elseif b < 0xE0 then p = p + 2 elseif b < 0xF0 then p = p + 3 else p = p + 4 end
      end
      return p
    end
    for _, c in ipairs(ops) do
      if type(c) == 'string' then
        table.insert(out, c)
      else
        local n = tonumber(c)
        local nxt = advance(math.abs(n))
        if not nxt then return redis.error_reply('INVALID the operation reaches past the end of the document (' .. scalar_len(doc) .. ' characters)') end
        if n > 0 then table.insert(out, string.sub(doc, pos, nxt - 1)) end
        pos = nxt
      end
    end
    local rest = string.sub(doc, pos)
    table.insert(out, rest)
    local text = table.concat(out)
    if #text > tonumber(ARGV[5]) then return redis.error_reply('TOOLARGE ' .. #text) end
    -- Log the op over the whole document (its left-out trailing retain written out), so later
    -- ops made at this revision transform against it length for length.
    local ops_json = ARGV[2]
    local tail = scalar_len(rest)
    if tail > 0 then
      if #ops == 0 then ops_json = '[' .. tail .. ']' else ops_json = string.sub(ops_json, 1, -2) .. ',' .. tail .. ']' end
    end
    local author
    local raw = redis.call('HGET', KEYS[2], ARGV[4])
    if raw then author = cjson.decode(raw) end
    return {commit_text(text, ops_json, author, ARGV[3], now, tonumber(ARGV[6]), tonumber(s.expires_at))}
    """)

    /// A participant id for a participant token (rejoining). ARGV: token hash.
    static let participantForToken = RedisScript(name: "participant_for_token", source: prelude + """
    local s, err = load_session(now_ms(), false)
    if not s then return err end
    local id = redis.call('HGET', KEYS[3], ARGV[1])
    if not id then return redis.error_reply('FORBIDDEN this participant token does not belong to this session') end
    local p = cjson.decode(redis.call('HGET', KEYS[2], id))
    p.token_hash = nil
    return cjson.encode(p)
    """)

    /// A WebSocket connection goes online. ARGV: connection id, participant id, the revision the
    /// client has ('' for none), max connections per session.
    /// Returns {session, participants (with is_online), you, missed (op frames since the client's
    /// revision; absent when the log no longer reaches back that far)}.
    static let connect = RedisScript(name: "connect", source: prelude + """
    local now = now_ms()
    local s, err = load_session(now, false)
    if not s then return err end
    local raw = redis.call('HGET', KEYS[2], ARGV[2])
    if not raw then return redis.error_reply('NOTFOUND participant') end
    if redis.call('HLEN', KEYS[7]) >= tonumber(ARGV[4]) then return redis.error_reply('TOOMANY connections') end
    local revision = tonumber(s.revision)
    local missed
    -- A revision ahead of ours (writes lost in a failover, or a confused client) gets no missed
    -- ops: the client reloads the text, which is the truth.
    if ARGV[3] ~= '' and tonumber(ARGV[3]) <= revision then
      local since = tonumber(ARGV[3])
      local n = revision - since
      if n == 0 then
        missed = {}
      else
        local entries = redis.call('LRANGE', KEYS[6], -n, -1)
        if #entries == n then missed = entries end
      end
    end
    local online = online_set()
    local was_online = online[ARGV[2]]
    redis.call('HSET', KEYS[7], ARGV[1], ARGV[2])
    redis.call('PEXPIREAT', KEYS[7], tonumber(s.expires_at))
    online[ARGV[2]] = true
    local p = cjson.decode(raw)
    if not was_online then publish(ARGV[1], 0, frame('user-joined', cjson.encode(public(p, true)), now)) end
    local list = {}
    for _, item in ipairs(participant_list()) do table.insert(list, public(item, online[item.id] == true)) end
    s.host_token_hash = nil
    return cjson.encode({session = s, participants = list, you = public(p, true), missed = missed})
    """)

    /// A connection closes. ARGV: connection id. Publishes user-left when it was the
    /// participant's last connection anywhere.
    static let disconnect = RedisScript(name: "disconnect", source: prelude + """
    local pid = redis.call('HGET', KEYS[7], ARGV[1])
    if not pid then return 0 end
    redis.call('HDEL', KEYS[7], ARGV[1])
    if online_set()[pid] then return 0 end
    local raw = redis.call('HGET', KEYS[2], pid)
    if raw then publish('', 0, frame('user-left', cjson.encode(public(cjson.decode(raw), false)), now_ms())) end
    return 1
    """)

    /// A gateway died: forget its connections in this session. ARGV: its connection id prefix.
    static let dropGateway = RedisScript(name: "drop_gateway", source: prelude + """
    local flat = redis.call('HGETALL', KEYS[7])
    local dropped = {}
    for i = 1, #flat, 2 do
      if string.sub(flat[i], 1, #ARGV[1]) == ARGV[1] then
        redis.call('HDEL', KEYS[7], flat[i])
        dropped[flat[i + 1]] = true
      end
    end
    local online = online_set()
    local now = now_ms()
    local count = 0
    for pid in pairs(dropped) do
      if not online[pid] then
        local raw = redis.call('HGET', KEYS[2], pid)
        if raw then
          publish('', 0, frame('user-left', cjson.encode(public(cjson.decode(raw), false)), now))
          count = count + 1
        end
      end
    end
    return count
    """)

    /// Node liveness. KEYS: ci:{nodes}:gateways (zset instance -> lease expiry ms),
    /// ci:{nodes}:gateway-info (hash instance -> JSON), ci:{nodes}:gateway-sessions:<instance> (set).
    /// ARGV: instance id, lease ms, info JSON. Returns the instances whose lease ran out.
    static let gatewayHeartbeat = RedisScript(name: "gateway_heartbeat", source: """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
    redis.call('PEXPIRE', KEYS[3], 3600000)
    return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 16)
    """)

    /// Forgets a dead gateway once its sessions are swept. KEYS as gatewayHeartbeat (of the dead
    /// one). ARGV: instance id.
    static let forgetGateway = RedisScript(name: "forget_gateway", source: """
    redis.call('ZREM', KEYS[1], ARGV[1])
    redis.call('HDEL', KEYS[2], ARGV[1])
    redis.call('DEL', KEYS[3])
    return 1
    """)

    static let all: [RedisScript] = [create, join, leave, saveCode, update, delete, read, history, availableLanguages,
                                     submitOp, participantForToken, connect, disconnect, dropGateway, gatewayHeartbeat, forgetGateway]
}
