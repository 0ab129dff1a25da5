-- ARGV: code, its length (Unicode scalars), language ('' keeps it), presented token hash ('' for
-- none), history_limit, then the bounds (snapshot ops, snapshot bytes, log cap bytes).
local now = now_ms()
local s, err = load_session(now, false)
if not s then return err end
local locked = locked_out(s, ARGV[4], nil)
if locked then return locked end
migrate(s, now)
local event = {type = 'code_saved', at = now}
local author
if ARGV[4] ~= '' then
  if ARGV[4] == s.host_token_hash then
    event.by_host = true
  else
    local id = redis.call('HGET', K_TOKENS, ARGV[4])
    if not id then return redis.error_reply('FORBIDDEN this token does not belong to this session') end
    author = cjson.decode(redis.call('HGET', K_PARTICIPANTS, id))
    event.user_id = author.id
    event.name = author.name
  end
end
local expires = keep_until(s)
local limit = tonumber(ARGV[5])
if ARGV[3] ~= '' and ARGV[3] ~= s.language then
  redis.call('HSET', K_SESSION, 'language', ARGV[3])
  s.language = ARGV[3]
  push_history({type = 'language_changed', at = now, language = ARGV[3], user_id = event.user_id, name = event.name}, limit, expires)
  local data = {language = ARGV[3]}
  if author then data.user_id = author.id data.name = author.name data.color = author.color end
  publish('', 0, frame('language-changed', cjson.encode(data), now))
end
local revision = replace_text(CODE, s, ARGV[1], tonumber(ARGV[2]), author, '', now, bounds_at(6))
event.revision = revision
push_history(event, limit, expires)
return cjson.encode({language = s.language, revision = revision, updated_at = now})
