-- Keeps one integrity signal (a WebSocket `activity` message, Activity.swift) with the session and
-- publishes it to the interviewers only (the private channel, frame `activity`). The gateway has
-- validated the signal's own fields; who and when are stamped here: the participant as stored
-- (its id, name and role, never the client's word) and Redis' clock. The list only grows, up to
-- its cap (then FULL, nothing kept): its length is the count archive_release.lua checks.
-- ARGV: the participant id, the kind, the kind's fields as a JSON object, the cap.
-- Answers the stored entry as JSON.
local now = now_ms()
local s, err = load_session(now, false, {'id', 'expires_at', 'status', 'archive_hold_ms'})
if not s then return err end
local raw = redis.call('HGET', K_PARTICIPANTS, ARGV[1])
if not raw then return redis.error_reply('FORBIDDEN this connection is no participant of the session any more') end
local p = cjson.decode(raw)
local count = redis.call('LLEN', SK.activity)
if count >= tonumber(ARGV[4]) then return redis.error_reply('FULL ' .. count) end
local entry = cjson.decode(ARGV[3])
entry.type = 'integrity'
entry.kind = ARGV[2]
entry.seq = count + 1
entry.at = now
entry.user_id = p.id
entry.name = p.name
entry.role = p.role
local json = cjson.encode(entry)
redis.call('RPUSH', SK.activity, json)
redis.call('PEXPIREAT', SK.activity, keep_until(s))
publish('', 0, frame('activity', json, now), 'private')
return json
