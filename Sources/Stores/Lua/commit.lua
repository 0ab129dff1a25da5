-- Commits one operation to a document by appending it: the revision and the lengths are checked,
-- the text is never read. ARGV: base revision, ops (JSON without a trailing retain, normalized by
-- the gateway), how far the op as sent reaches (its base length with that retain), the base and
-- target length without it (Unicode scalars), the bytes it adds (the bytes it inserts minus the
-- scalars it deletes), the author's connection id, participant id, and fields as JSON
-- (',"user_id":...,"name":...,"color":...', CommitAuthor.json; '' for none), max document bytes,
-- most log entries a stale op may be transformed over, the bounds (snapshot ops, snapshot bytes,
-- log cap bytes), then which document ('code' or 'notes'; whether the author may edit the notes is
-- the gateway's check).
-- Answers {revision, snapshot due (0/1), fold due (0/1)}, or for a stale base {current revision,
-- the log entries of every revision after the base, oldest first}, so the gateway transforms and
-- retries.
-- This runs on every keystroke: it keeps numbers as the text Redis gives until it must compute
-- (a conversion costs more than a command here; see now_ms_text in lib.lua).
local now = now_ms_text()
local doc = DOCUMENTS[ARGV[15]]
local session, err = load_session(now, false, doc.session_fields)
if not session then return err end
if doc == CODE then
  local locked = locked_out(session, '', ARGV[8])
  if locked then return locked end
end
local s = open_document(doc, session, now)
-- At the head (the usual case: the texts match) the op applies as it is; otherwise it is from
-- the future (refused), or stale: the gateway gets what was committed since, to transform over.
if ARGV[1] ~= s.revision then
  local revision, base = tonumber(s.revision), tonumber(ARGV[1])
  if base > revision then return redis.error_reply('FUTURE ' .. revision) end
  if base < revision then
    if base < tonumber(s.checkpoint_revision) or revision - base > tonumber(ARGV[11]) then
      return redis.error_reply('STALE ' .. revision)
    end
    local entries = log_range(doc, s, base)
    if #entries ~= revision - base then return redis.error_reply('STALE ' .. revision) end
    table.insert(entries, 1, revision)
    return entries
  end
end
-- Bytes: the stored count is an upper bound (a deleted scalar is counted as one byte; the
-- snapshot writer corrects it with the exact count), so the limit is never passed.
-- (Arithmetic on Redis' texts converts each once; tonumber would convert twice: it checks, then
-- converts. A comparison needs both sides numbers: `+ 0`.)
local length = s.length + 0
if ARGV[3] + 0 > length then
  return redis.error_reply('INVALID the operation reaches past the end of the document (' .. length .. ' characters)')
end
local tail = length - ARGV[4]
local bytes_raw = s.bytes_raw + ARGV[6]
local bytes = bytes_raw - s.bytes_drift
if bytes > ARGV[10] + 0 then return redis.error_reply('TOOLARGE ' .. bytes) end
local ops_json = ARGV[2]
if tail > 0 then
  if ops_json == '[]' then ops_json = '[' .. tail .. ']' else ops_json = string.sub(ops_json, 1, -2) .. ',' .. tail .. ']' end
end
return {append_op(doc, s, ops_json, ARGV[5] + tail, bytes_raw, ARGV[9], ARGV[7], now, bounds_at(12))}
