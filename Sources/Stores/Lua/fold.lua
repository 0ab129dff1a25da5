-- Folds the oldest entries of a document's log into its checkpoint when the log is over its byte
-- cap: the text at a revision becomes the checkpoint, the entries up to it leave the log, and the
-- checkpoint's summary counts what was folded (how many ops and bytes, from when to when, by whom),
-- so history before it is summarized, never silently lost. ARGV: the document ('code' or
-- 'notes'), the checkpoint revision the caller read (compare-and-set: of two folders one wins), the
-- new checkpoint revision, its text, length, bytes, history_limit.
-- Answers the log bytes left, or -1 when the checkpoint moved meanwhile.
local now = now_ms()
local doc = DOCUMENTS[ARGV[1]]
local s = redis.call('HMGET', doc.state, 'checkpoint_revision', 'snapshot_revision', 'revision', 'log_bytes', 'layout', 'snapshot_log_bytes')
local life = redis.call('HMGET', K_SESSION, 'expires_at', 'archive_hold_ms')
local expires = life[1] and keep_until({expires_at = life[1], archive_hold_ms = life[2]})
if not s[1] or not expires or s[5] ~= LAYOUT or s[1] ~= ARGV[2] then return -1 end
local revision = tonumber(ARGV[3])
if revision <= tonumber(s[1]) or revision > tonumber(s[3]) then return -1 end
local old = redis.call('HMGET', doc.checkpoint, 'folded_ops', 'folded_bytes', 'first_at', 'authors')
local authors = cjson.decode(old[4] or '{}')
local count, cost, first_at, last_at = 0, 0, old[3], nil
for _, entry in ipairs(redis.call('LRANGE', doc.log, 0, revision - tonumber(s[1]) - 1)) do
  local e = cjson.decode(entry)
  count = count + 1
  cost = cost + #entry
  if not first_at then first_at = e.ts end
  last_at = e.ts
  local who = e.user_id or ''
  authors[who] = (authors[who] or 0) + 1
end
redis.call('HSET', doc.checkpoint, 'revision', revision, 'text', ARGV[4], 'length', ARGV[5], 'bytes', ARGV[6], 'ts', now,
  'reason', 'log cap', 'folded_ops', tonumber(old[1] or '0') + count, 'folded_bytes', tonumber(old[2] or '0') + cost,
  'first_at', first_at or now, 'through_at', last_at or now, 'authors', cjson.encode(authors))
redis.call('LTRIM', doc.log, revision - tonumber(s[1]), -1)
local left = math.max(0, tonumber(s[4]) - cost)
redis.call('HSET', doc.state, 'checkpoint_revision', revision, 'log_bytes', left,
  'snapshot_log_bytes', math.max(0, tonumber(s[6] or '0') - cost))
if revision > tonumber(s[2]) then
  -- The snapshot must never be older than the checkpoint (the log no longer reaches back to it).
  redis.call('HSET', doc.snapshot, 'revision', revision, 'text', ARGV[4], 'length', ARGV[5], 'bytes', ARGV[6], 'ts', now)
  redis.call('HSET', doc.state, 'snapshot_revision', revision, 'snapshot_log_bytes', left)
end
-- The history is every member's to read: the notes' folds stay out of it.
if doc == CODE then
  push_history({type = 'checkpoint', at = now, revision = revision, folded_ops = count}, tonumber(ARGV[7]), tonumber(expires))
end
return left
