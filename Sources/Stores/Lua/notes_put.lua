-- Replaces the interviewers' notes as one revision (PUT /sessions/{id}/notes), broadcast as a
-- notes-op on the private channel; nothing goes to the history (every member reads it). ARGV:
-- presented token hash, text, its length (Unicode scalars), the revision the caller has ('' for
-- none: replace whatever is there), then the bounds (snapshot ops, snapshot bytes, log cap bytes).
-- Answers {"revision", "updated_at"} as JSON.
local now = now_ms()
local s, err = load_session(now, false, {'expires_at', 'status', 'host_token_hash', 'archive_hold_ms'})
if not s then return err end
local who, denied = require_interviewer(s, ARGV[1], 'the notes')
if not who then return denied end
local d = open_document(NOTES, s, now)
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= tonumber(d.revision) then
  return redis.error_reply('CONFLICT the notes are at revision ' .. d.revision .. ', not ' .. ARGV[4]
    .. ': read them again (GET), merge, and PUT with revision ' .. d.revision)
end
local author
if who.id then author = {id = who.id, name = who.name, color = who.color} end
local revision = replace_text(NOTES, d, ARGV[2], tonumber(ARGV[3]), author, '', now, bounds_at(5))
return cjson.encode({revision = revision, updated_at = now})
