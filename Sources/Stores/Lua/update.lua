-- ARGV: presented token hash, history_limit, then flag/value pairs for code, language, status,
-- name (flag '1' = change it), the code's length (Unicode scalars), the author's participant id
-- ('' for none), the connection to exclude from the broadcast, then the bounds (snapshot ops,
-- snapshot bytes, log cap bytes). A code change is a new revision; a language change is not
-- (revisions number the text). The gateway leaves out a code equal to the current text.
-- Ending (status completed) is the host's or an interviewer's; while the editor is locked, a code or
-- language change is the interviewers' only (LOCKED editor_locked, before anything is written).
local now = now_ms()
local s, err = load_session(now, false)
if not s then return err end
local presented = ARGV[1]
local limit = tonumber(ARGV[2])
local expires = keep_until(s)
local set_code, code = ARGV[3] == '1', ARGV[4]
local set_language, language = ARGV[5] == '1', ARGV[6]
local set_status, status = ARGV[7] == '1', ARGV[8]
local set_name, name = ARGV[9] == '1', ARGV[10]
if set_status and status == 'completed' then
  local _, denied = require_interviewer(s, presented, 'ending the interview and the room controls')
  if denied then return denied end
end
if (set_code and code ~= nil) or (set_language and language ~= s.language) then
  local locked = locked_out(s, presented, ARGV[12])
  if locked then return locked end
end
if set_name and name ~= s.name then
  local denied = require_host(s, presented, 'renaming a session')
  if denied then return denied end
  redis.call('HSET', K_SESSION, 'name', name)
end
local author
if ARGV[12] ~= '' then
  local raw = redis.call('HGET', K_PARTICIPANTS, ARGV[12])
  if raw then author = cjson.decode(raw) end
end
if set_language and language ~= s.language then
  redis.call('HSET', K_SESSION, 'language', language, 'updated_at', now)
  local event = {type = 'language_changed', at = now, language = language}
  local data = {language = language}
  if author then
    event.user_id = author.id event.name = author.name
    data.user_id = author.id data.name = author.name data.color = author.color
  end
  push_history(event, limit, expires)
  publish(ARGV[13], 0, frame('language-changed', cjson.encode(data), now))
end
local committed
if set_code then
  migrate(s, now)
  committed = replace_text(CODE, s, code, tonumber(ARGV[11]), author, ARGV[13], now, bounds_at(14))
  local event = {type = 'code_saved', at = now, revision = committed}
  if author then event.user_id = author.id event.name = author.name end
  push_history(event, limit, expires)
end
if set_status and status == 'completed' then
  redis.call('HSET', K_SESSION, 'status', 'completed', 'updated_at', now)
  push_history({type = 'ended', at = now}, limit, expires)
  publish('', 0, frame('session-ended', '{"session_id":' .. cjson.encode(s.id) .. '}', now))
end
local after = load_session(now, true)
after.committed_revision = committed
return view(after)
