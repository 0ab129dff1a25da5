-- Commits one operation to a document by appending it: the revision and the lengths are checked,
-- the text is never read. ARGV: base revision, ops (JSON without a trailing retain, normalized by
-- the gateway), how far the op as sent reaches (its base length with that retain), the base and
-- target length without it (Unicode scalars), the bytes it inserts, the scalars it deletes, the
-- author's connection id, participant id, name and color, max document bytes, most log entries a
-- stale op may be transformed over, the bounds (snapshot ops, snapshot bytes, log cap bytes), then
-- which document ('code' or 'notes'; whether the author may edit the notes is the gateway's check).
-- Answers {revision, snapshot due (0/1), fold due (0/1)}, or for a stale base {current revision,
-- the log entries of every revision after the base, oldest first}, so the gateway transforms and
-- retries.
local now = now_ms()
local doc = DOCUMENTS[ARGV[17]]
local session, err = load_session(now, false, doc.session_fields)
if not session then return err end
if doc == CODE then
  local locked = locked_out(session, '', ARGV[9])
  if locked then return locked end
end
local s = open_document(doc, session, now)
local revision = tonumber(s.revision)
local base = tonumber(ARGV[1])
if base > revision then return redis.error_reply('FUTURE ' .. revision) end
if base < revision then
  if base < tonumber(s.checkpoint_revision) or revision - base > tonumber(ARGV[13]) then
    return redis.error_reply('STALE ' .. revision)
  end
  local entries = log_range(doc, s, base)
  if #entries ~= revision - base then return redis.error_reply('STALE ' .. revision) end
  table.insert(entries, 1, revision)
  return entries
end
-- Bytes: the stored count is an upper bound (a deleted scalar is counted as one byte; the
-- snapshot writer corrects it with the exact count), so the limit is never passed.
local length, op_base = tonumber(s.length), tonumber(ARGV[4])
if tonumber(ARGV[3]) > length then
  return redis.error_reply('INVALID the operation reaches past the end of the document (' .. length .. ' characters)')
end
local tail = length - op_base
local bytes_raw = tonumber(s.bytes_raw) + tonumber(ARGV[6]) - tonumber(ARGV[7])
local bytes = bytes_raw - tonumber(s.bytes_drift)
if bytes > tonumber(ARGV[12]) then return redis.error_reply('TOOLARGE ' .. bytes) end
local ops_json = ARGV[2]
if tail > 0 then
  if ops_json == '[]' then ops_json = '[' .. tail .. ']' else ops_json = string.sub(ops_json, 1, -2) .. ',' .. tail .. ']' end
end
local author
if ARGV[9] ~= '' then author = {id = ARGV[9], name = ARGV[10], color = ARGV[11]} end
return {append_op(doc, s, ops_json, tonumber(ARGV[5]) + tail, bytes_raw, author, ARGV[8], now, bounds_at(14))}
