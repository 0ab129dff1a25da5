-- ARGV: participant id, presented token hash, history_limit.
local now = now_ms()
local s, err = load_session(now, false)
if not s then return err end
local raw = redis.call('HGET', K_PARTICIPANTS, ARGV[1])
if not raw then return redis.error_reply('NOTFOUND participant') end
local p = cjson.decode(raw)
if ARGV[2] == '' then return redis.error_reply('UNAUTHORIZED removing a participant needs their token or the host token') end
if ARGV[2] ~= s.host_token_hash and ARGV[2] ~= p.token_hash then
  return redis.error_reply('FORBIDDEN this token may not remove that participant')
end
redis.call('HDEL', K_PARTICIPANTS, p.id)
redis.call('HDEL', K_TOKENS, p.token_hash)
local presence = redis.call('HGETALL', K_PRESENCE)
for i = 1, #presence, 2 do
  if presence[i + 1] == p.id then redis.call('HDEL', K_PRESENCE, presence[i]) end
end
push_history({type = 'left', at = now, user_id = p.id, name = p.name}, tonumber(ARGV[3]), keep_until(s))
local data = public(p, false)
data.removed = true
publish('', 0, frame('user-left', cjson.encode(data), now))
return 1
