-- The whole of `GET /api/v1/sessions/{id}` in one call (Sessions.session in Swift): the session
-- hash's fields, its participants, who is online, and the code document's latest snapshot with
-- the log entries after it. It replaces a pipeline of three commands and the document script,
-- whose 20 keys (SessionKeys.all) the gateway formatted on every GET; it stands alone, without
-- the session prelude, and reads only what the answer needs. The document part is document.lua's
-- 'snapshot' read, for the code document.
-- KEYS: 1 the session hash, 2 participants, 3 presence, 4 gone, 5 the code log, 6 its snapshot
-- (Sessions.readKeys). ARGV: the session hash's fields to answer (Session.fields).
-- Answers {fields (in ARGV's order), participants (HGETALL's flat list), presence (values),
-- layout, base revision, base text, log entries after it...}, the document part as document.lua's;
-- NOTFOUND or GONE <why> when the session is not there (as document.lua, and the `gone` key).
local fields = redis.call('HMGET', KEYS[1], unpack(ARGV))
local life = redis.call('HMGET', KEYS[1], 'archive_hold_ms', 'status', 'expires_at', 'checkpoint_revision')
-- An archived session's keys outlive its end until the archiver has its record: 410 as document.lua.
if life[1] then
  if life[2] == 'deleted' then return redis.error_reply('GONE deleted') end
  if tonumber(life[3]) <= now_ms() then return redis.error_reply('GONE expired') end
end
if not fields[1] then return gone_or_not_found(KEYS[4]) end
local answer = {fields, redis.call('HGETALL', KEYS[2]), redis.call('HVALS', KEYS[3])}
local base = redis.call('HMGET', KEYS[6], 'revision', 'text')
if not base[1] then
  -- A session of the previous layout keeps its text in its hash.
  local legacy = redis.call('HMGET', KEYS[1], 'revision', 'code')
  if not legacy[1] then return gone_or_not_found(KEYS[4]) end
  table.insert(answer, '1')
  table.insert(answer, legacy[1])
  table.insert(answer, legacy[2] or '')
  return answer
end
-- Element i of the log is revision checkpoint_revision + 1 + i (log_range in the prelude).
local offset = tonumber(life[4] or base[1]) + 1
local entries = redis.call('LRANGE', KEYS[5], tonumber(base[1]) + 1 - offset, -1)
table.insert(answer, '2')
table.insert(answer, base[1])
table.insert(answer, base[2])
for _, entry in ipairs(entries) do table.insert(answer, entry) end
return answer
