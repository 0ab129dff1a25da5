-- A WebSocket connection goes online. ARGV: connection id, participant id, the revision the
-- client has ('' for none), max connections per session, most log entries sent to catch up.
-- Answers {view JSON, then the log entries after the client's revision when the
-- client gave one it can catch up from}: the JSON's "catch_up" says which.
local now = now_ms()
local s, err = load_session(now, false)
if not s then return err end
migrate(s, now)
local raw = redis.call('HGET', K_PARTICIPANTS, ARGV[2])
if not raw then return redis.error_reply('NOTFOUND participant') end
if redis.call('HLEN', K_PRESENCE) >= tonumber(ARGV[4]) then return redis.error_reply('TOOMANY connections') end
local revision = tonumber(s.revision)
local entries = {}
local catch_up = false
-- A revision ahead of ours (writes lost in a failover, or a confused client), one from before the
-- checkpoint or too far behind gets no missed ops: the client reloads the text.
if ARGV[3] ~= '' then
  local since = tonumber(ARGV[3])
  if since <= revision and since >= tonumber(s.checkpoint_revision) and revision - since <= tonumber(ARGV[5]) then
    catch_up = true
    if since < revision then entries = log_range(CODE, s, since) end
  end
end
local online = online_set()
local was_online = online[ARGV[2]]
redis.call('HSET', K_PRESENCE, ARGV[1], ARGV[2])
redis.call('PEXPIREAT', K_PRESENCE, keep_until(s))
online[ARGV[2]] = true
local p = cjson.decode(raw)
if not was_online then publish(ARGV[1], 0, frame('user-joined', cjson.encode(public(p, true)), now)) end
local list = {}
for _, item in ipairs(participant_list()) do
  local entry = public(item, online[item.id] == true)
  table.insert(list, entry)
end
local out = {cjson.encode({session = scalars(s), participants = list, you = public(p, true), catch_up = catch_up})}
for _, entry in ipairs(entries) do table.insert(out, entry) end
return out
