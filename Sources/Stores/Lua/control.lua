-- Changes the room controls (RoomControlsStore in Swift): the host token or an interviewer's
-- participant token only. ARGV: presented token hash, history_limit, then the new value of each
-- of CONTROLS (prelude.lua) in that order: '1' on, '0' off, '' unchanged. A change is one history
-- event (controls_changed: the whole state, what changed, who) and one session-controls frame to
-- every member; hiding the question also tells candidates it is gone (question-changed null; on a
-- reveal they read it again, GET /sessions/{id}/question, as the frame says). Setting what is
-- already set changes nothing and publishes nothing. Ending is not here: it is update.lua's
-- status change, the one way to end. Answers the state as JSON: CONTROLS as booleans, "changed"
-- (the names changed), "updated_at".
local now = now_ms()
local s, err = load_session(now, false)
if not s then return err end
local who, denied = require_interviewer(s, ARGV[1], 'the room controls')
if denied then return denied end
local state, changed, fields = {}, {}, {}
for i, name in ipairs(CONTROLS) do
  local current = s[name] == '1'
  local wanted = ARGV[2 + i]
  if wanted ~= '' and (wanted == '1') ~= current then
    current = wanted == '1'
    table.insert(changed, name)
    table.insert(fields, name)
    table.insert(fields, current and '1' or '0')
  end
  state[name] = current
end
if #changed == 0 then
  return cjson.encode({editor_locked = state.editor_locked, runs_held = state.runs_held,
    question_hidden = state.question_hidden, changed = {}, updated_at = tonumber(s.updated_at)})
end
redis.call('HSET', K_SESSION, 'updated_at', now, unpack(fields))
local event = {type = 'controls_changed', at = now, editor_locked = state.editor_locked, runs_held = state.runs_held,
  question_hidden = state.question_hidden, changed = changed}
local data = {editor_locked = state.editor_locked, runs_held = state.runs_held, question_hidden = state.question_hidden,
  changed = changed}
if who.id then
  event.user_id, event.name = who.id, who.name
  data.user_id, data.name, data.color = who.id, who.name, who.color
else
  event.by_host, data.by_host = true, true
end
push_history(event, tonumber(ARGV[2]), keep_until(s))
publish('', 0, frame('session-controls', cjson.encode(data), now))
for _, name in ipairs(changed) do
  if name == 'question_hidden' and state.question_hidden then
    publish(EXCEPT_INTERVIEWERS, 0, frame('question-changed', '{"question":null,"hidden":true}', now))
  end
end
return cjson.encode({editor_locked = state.editor_locked, runs_held = state.runs_held,
  question_hidden = state.question_hidden, changed = changed, updated_at = now})
