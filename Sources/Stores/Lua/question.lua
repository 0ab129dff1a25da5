-- Sets or clears the session's question (PUT / DELETE /sessions/{id}/question: the host only).
-- ARGV: mode ('set' or 'clear'), presented token hash ('' for none), history_limit, the bounds
-- (snapshot ops, snapshot bytes, log cap bytes), the document's byte limit; then for 'set': the
-- interviewers' view (every test: what is stored), the candidates' view (the visible tests only),
-- the title, the library question it was copied from ('' for none), and, when the starter code is
-- to be loaded, (language, code, its length in Unicode scalars) for each language it has one for.
-- The views are JSON objects the gateway built (SessionQuestion.json(forInterviewer:)): this
-- script appends updated_at and never decodes them, so no test goes through Lua's JSON.
-- Answers {"updated_at", "revision" (the document's, when the starter code was loaded)} for
-- 'set'; 1, or 0 when there was no question, for 'clear'. TOOLARGE <bytes> <language>: the
-- starter code of the session's language is over the document's limit (nothing is changed).
local now = now_ms()
local s, err = load_session(now, false)
if not s then return err end
local setting = ARGV[1] == 'set'
local denied = require_host(s, ARGV[2], setting and 'setting the question' or 'clearing the question')
if denied then return denied end
local limit, expires = tonumber(ARGV[3]), keep_until(s)
if not setting then
  if redis.call('DEL', K_QUESTION) == 0 then return 0 end
  push_history({type = 'question_cleared', at = now, by_host = true}, limit, expires)
  publish('', 0, frame('question-changed', '{"question":null}', now))
  return 1
end
local starter
for i = 12, #ARGV, 3 do
  if ARGV[i] == s.language then starter = {code = ARGV[i + 1], length = tonumber(ARGV[i + 2])} end
end
if starter and #starter.code > tonumber(ARGV[7]) then
  return redis.error_reply('TOOLARGE ' .. #starter.code .. ' ' .. s.language)
end
local function stamped(view) return string.sub(view, 1, -2) .. ',"updated_at":' .. now .. '}' end
local full = stamped(ARGV[8])
redis.call('SET', K_QUESTION, full, 'PXAT', expires)
local event = {type = 'question_changed', at = now, title = ARGV[10], by_host = true}
if ARGV[11] ~= '' then event.source_question_id = ARGV[11] end
push_history(event, limit, expires)
-- Candidates get their view on the channel everyone hears; interviewers theirs on the private one.
-- A hidden question (room controls) is none to candidates until it is revealed.
local candidates_view = s.question_hidden == '1' and 'null' or stamped(ARGV[9])
publish(EXCEPT_INTERVIEWERS, 0, frame('question-changed', '{"question":' .. candidates_view .. '}', now))
publish('', 0, frame('question-changed', '{"question":' .. full .. '}', now), 'private')
local revision
if starter then
  migrate(s, now)
  revision = replace_text(CODE, s, starter.code, starter.length, nil, '', now, bounds_at(4))
  push_history({type = 'code_saved', at = now, revision = revision, by_host = true}, limit, expires)
end
return cjson.encode({updated_at = now, revision = revision})
