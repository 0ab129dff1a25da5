-- ARGV: id, name, role, token_hash, presented token hash, history_limit, palette (comma list),
-- and for a WebSocket join the session's connection cap ('' for REST), checked first so a join
-- refused for it takes no seat.
local now = now_ms()
local s, err = load_session(now, false)
if not s then return err end
if ARGV[3] == 'interviewer' and ARGV[5] ~= s.host_token_hash then
  return redis.error_reply('FORBIDDEN joining as interviewer needs the host token')
end
if ARGV[8] and ARGV[8] ~= '' and redis.call('HLEN', K_PRESENCE) >= tonumber(ARGV[8]) then
  return redis.error_reply('TOOMANY connections')
end
local count = redis.call('HLEN', K_PARTICIPANTS)
if count >= tonumber(s.max_participants) then return redis.error_reply('FULL ' .. count) end
local used = {}
for _, raw in ipairs(redis.call('HVALS', K_PARTICIPANTS)) do used[cjson.decode(raw).color] = true end
local color
for c in string.gmatch(ARGV[7], '[^,]+') do
  if not used[c] then color = c break end
end
local p = {id = ARGV[1], name = ARGV[2], role = ARGV[3], color = color, joined_at = now, token_hash = ARGV[4]}
add_participant(p, keep_until(s))
push_history({type = 'joined', at = now, user_id = p.id, name = p.name, role = p.role}, tonumber(ARGV[6]), keep_until(s))
p.token_hash = nil
return cjson.encode(p)
