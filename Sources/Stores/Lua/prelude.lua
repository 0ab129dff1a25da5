-- The session layer (on top of lib.lua), the prelude of every session script (Scripts.swift puts
-- lib.lua and this in front of each). KEYS: the session's keys and channels, as session_keys in
-- lib.lua lists them.
-- Two channels (ChannelMessage in Swift; see publish): events for every member, and private for
-- the interviewers only. An event with a candidate view and an interviewer view goes out twice:
-- the candidate view on events with exclude EXCEPT_INTERVIEWERS (delivered to candidates only),
-- the full view on private.
-- The text is never read or written by a commit: it is the snapshot plus the log entries after it,
-- applied by whoever reads.
-- The session's keys (bound to this call's KEYS by bind_session, below): K_* for the ones most
-- scripts use, SK for the few others (SK.activity, SK.scorecards, SK.terminal_log).
local SK = {}
local K_SESSION, K_PARTICIPANTS, K_TOKENS, K_HISTORY, K_GONE, K_LEGACY_OPS, K_PRESENCE, K_LOG, K_SNAPSHOT, K_CHECKPOINT
local K_NOTES, K_NOTES_LOG, K_NOTES_SNAPSHOT, K_NOTES_CHECKPOINT, K_QUESTION
-- The document layout these scripts write; a session without it was written by the previous
-- version (the text in the session hash) and is converted by its first write.
local LAYOUT = '2'
local SESSION_FIELDS = {'id', 'name', 'language', 'revision', 'status', 'created_at', 'updated_at', 'expires_at',
  'max_participants', 'host_token_hash', 'layout', 'length', 'bytes_raw', 'bytes_drift', 'log_bytes',
  'snapshot_revision', 'snapshot_log_bytes', 'checkpoint_revision', 'archive_hold_ms',
  'editor_locked', 'runs_held', 'question_hidden'}
-- The room controls (control.lua sets them; '1' on, absent or '0' off): the editor locked for
-- candidates (commit, update and save_code refuse their code and language changes), Run and Run
-- tests held back for candidates (execution_session_context refuses), the question hidden from
-- candidates (connect's view, question.lua's broadcast, the question reads answer none).
local CONTROLS = {'editor_locked', 'runs_held', 'question_hidden'}

-- When a session's keys expire: at its expires_at, or, when it is archived (the gateway had
-- PostgreSQL when it was created, and stored the hold), that long after, so its record can be
-- written however long PostgreSQL is away; the archiver lets them go sooner. `s` needs
-- expires_at and archive_hold_ms.
local function keep_until(s)
  return tonumber(s.expires_at) + tonumber(s.archive_hold_ms or '0')
end

local function scalar_len(text)
  local _, n = string.gsub(text, '[^\128-\191]', '')
  return n
end
-- What a commit needs of the session hash (a commit reads no more than this).
local COMMIT_FIELDS = {'expires_at', 'status', 'layout', 'revision', 'length', 'bytes_raw', 'bytes_drift', 'log_bytes',
  'snapshot_revision', 'snapshot_log_bytes', 'checkpoint_revision', 'archive_hold_ms', 'editor_locked'}
-- COMMIT_FIELDS' values as one table constructor: a commit runs on every keystroke, and a table
-- grown field by field is rehashed four times on the way to 13 (a field HMGET found no value for
-- is nil, as load_session makes it for any other list).
local function commit_state(v)
  return {expires_at = v[1], status = v[2], layout = v[3] or nil, revision = v[4] or nil, length = v[5] or nil,
    bytes_raw = v[6] or nil, bytes_drift = v[7] or nil, log_bytes = v[8] or nil, snapshot_revision = v[9] or nil,
    snapshot_log_bytes = v[10] or nil, checkpoint_revision = v[11] or nil, archive_hold_ms = v[12] or nil,
    editor_locked = v[13] or nil}
end
-- A document's state, as a commit reads it: its revision, length (Unicode scalars), byte bound
-- (bytes_raw - bytes_drift), log bytes, and where its snapshot and checkpoint are.
local DOCUMENT_FIELDS = {'layout', 'revision', 'length', 'bytes_raw', 'bytes_drift', 'log_bytes', 'snapshot_revision',
  'snapshot_log_bytes', 'checkpoint_revision'}
-- The session's two documents, laid out alike: a state hash (DOCUMENT_FIELDS, updated_at), the op
-- log, the latest snapshot, the checkpoint. The code's state is the session hash itself; the notes'
-- is their own hash, and they are published on the private channel under their own frame type.
-- `session_fields`: what a commit reads of the session hash (for the notes only its life).
-- Every function below that touches a document takes one of these first.
-- (Made once and refilled by each call's bind_session: a table per call would cost every call.)
local CHANNELS = {}
local CODE = {name = 'code', channel = 'events', op = 'op', session_fields = COMMIT_FIELDS}
local NOTES = {name = 'notes', channel = 'private', op = 'notes-op', session_fields = {'expires_at', 'status', 'archive_hold_ms'}}
local DOCUMENTS = {code = CODE, notes = NOTES}
-- Binding runs on every call of every session script, a keystroke's commit included: it assigns
-- what the scripts use from KEYS in order (session_keys in lib.lua lists them), and nothing more
-- (in Redis' Lua a table write costs about as much as a command's argument).
local function bind_session()
  local k = KEYS
  K_SESSION, K_PARTICIPANTS, K_TOKENS, K_HISTORY, K_GONE = k[1], k[2], k[3], k[4], k[5]
  K_LEGACY_OPS, K_PRESENCE, K_LOG, K_SNAPSHOT, K_CHECKPOINT = k[6], k[7], k[8], k[9], k[10]
  K_NOTES, K_NOTES_LOG, K_NOTES_SNAPSHOT, K_NOTES_CHECKPOINT, K_QUESTION = k[11], k[12], k[13], k[14], k[15]
  CHANNELS.events, CHANNELS.private = k[16], k[17]
  SK.activity, SK.scorecards, SK.terminal_log = k[18], k[19], k[20]
  CODE.state, CODE.log, CODE.snapshot, CODE.checkpoint = K_SESSION, K_LOG, K_SNAPSHOT, K_CHECKPOINT
  NOTES.state, NOTES.log, NOTES.snapshot, NOTES.checkpoint = K_NOTES, K_NOTES_LOG, K_NOTES_SNAPSHOT, K_NOTES_CHECKPOINT
end
BINDERS.session = bind_session
-- A script run by EVAL binds here; a function of the library binds at each call (bind in lib.lua).
if KEYS then bind_session() end
-- The session's scalars (never the text; `fields`, SESSION_FIELDS when nil), or nil and the
-- error to answer.
local function load_session(now, allow_ended, fields)
  fields = fields or SESSION_FIELDS
  local values = redis.call('HMGET', K_SESSION, unpack(fields))
  if not values[1] then return nil, gone_or_not_found(K_GONE) end
  local s
  if fields == COMMIT_FIELDS then
    s = commit_state(values)
  else
    s = {}
    for i = 1, #fields do s[fields[i]] = values[i] or nil end
  end
  local err = over(s.expires_at, s.status, now, allow_ended)
  if err then return nil, err end
  return s
end
-- Converts a session of the previous layout: its text becomes the snapshot and the checkpoint at
-- its revision (the old capped list of frames cannot rebuild earlier texts, so the checkpoint
-- says those revisions were made before the migration). Runs once, on the first write.
local function migrate(s, now)
  if s.layout == LAYOUT then return end
  local code = redis.call('HGET', K_SESSION, 'code') or ''
  local length, bytes, expires = scalar_len(code), #code, keep_until(s)
  local revision = s.revision or '0'
  redis.call('HSET', K_SNAPSHOT, 'revision', revision, 'text', code, 'length', length, 'bytes', bytes, 'ts', now)
  redis.call('HSET', K_CHECKPOINT, 'revision', revision, 'text', code, 'length', length, 'bytes', bytes, 'ts', now,
    'reason', 'migrated', 'folded_ops', revision, 'folded_bytes', 0, 'authors', '{}')
  redis.call('PEXPIREAT', K_SNAPSHOT, expires)
  redis.call('PEXPIREAT', K_CHECKPOINT, expires)
  redis.call('HDEL', K_SESSION, 'code')
  redis.call('DEL', K_LEGACY_OPS)
  redis.call('HSET', K_SESSION, 'layout', LAYOUT, 'length', length, 'bytes_raw', bytes, 'bytes_drift', 0,
    'log_bytes', 0, 'snapshot_revision', revision, 'snapshot_log_bytes', 0, 'checkpoint_revision', revision)
  s.layout, s.length, s.bytes_raw, s.bytes_drift, s.log_bytes = LAYOUT, tostring(length), tostring(bytes), '0', '0'
  s.snapshot_revision, s.snapshot_log_bytes, s.checkpoint_revision = revision, '0', revision
end
-- A token check: '' means no token was presented.
local function require_host(s, presented, what)
  if presented == '' then return redis.error_reply('UNAUTHORIZED ' .. what .. ' needs the host token') end
  if presented ~= s.host_token_hash then return redis.error_reply('FORBIDDEN ' .. what .. ' needs the host token; this token is not it') end
  return nil
end
-- The interviewer a token is (the host token, or the participant token of a participant whose
-- role is interviewer), or nil and the error to answer. Answers {} for the host token (no
-- participant), the participant otherwise. `s` needs host_token_hash.
local function require_interviewer(s, presented, what)
  local hint = 'send the host token or an interviewer\'s participant token (Authorization: Bearer ...)'
  if presented == '' then return nil, redis.error_reply('UNAUTHORIZED ' .. what .. ' are for the session\'s interviewers: ' .. hint) end
  if presented == s.host_token_hash then return {} end
  local id = redis.call('HGET', K_TOKENS, presented)
  local raw = id and redis.call('HGET', K_PARTICIPANTS, id)
  if not raw then return nil, redis.error_reply('FORBIDDEN this token does not belong to this session') end
  local p = cjson.decode(raw)
  if p.role ~= 'interviewer' then
    return nil, redis.error_reply('FORBIDDEN ' .. what .. ' are for the session\'s interviewers; this token is a candidate\'s')
  end
  return p
end
-- While the editor is locked, a change of the code or the language is the interviewers' only: the
-- host token, an interviewer's participant token (`presented`), or a connected interviewer
-- (`author_id`, a participant id). Answers nil when the change may go on, else the error
-- (LOCKED editor_locked <why>). `s` needs editor_locked and host_token_hash (when a token is given).
local function locked_out(s, presented, author_id)
  if s.editor_locked ~= '1' then return nil end
  if presented ~= '' and presented == s.host_token_hash then return nil end
  local id = author_id
  if (not id or id == '') and presented ~= '' then id = redis.call('HGET', K_TOKENS, presented) end
  local raw = id and id ~= '' and redis.call('HGET', K_PARTICIPANTS, id)
  if raw and cjson.decode(raw).role == 'interviewer' then return nil end
  return redis.error_reply('LOCKED editor_locked an interviewer has locked the editor: your change was not applied; '
    .. 'it opens again when they unlock it')
end
local function push_history(event, limit, expires)
  redis.call('RPUSH', K_HISTORY, cjson.encode(event))
  redis.call('LTRIM', K_HISTORY, -limit, -1)
  redis.call('PEXPIREAT', K_HISTORY, expires)
end
local function online_set()
  local set = {}
  for _, pid in ipairs(redis.call('HVALS', K_PRESENCE)) do set[pid] = true end
  return set
end
local function participant_list()
  local list = {}
  local online = online_set()
  for _, raw in ipairs(redis.call('HVALS', K_PARTICIPANTS)) do
    local p = cjson.decode(raw)
    p.token_hash = nil
    p.is_online = online[p.id] == true
    table.insert(list, p)
  end
  table.sort(list, function(a, b)
    if a.joined_at == b.joined_at then return a.id < b.id end
    return a.joined_at < b.joined_at
  end)
  return list
end
-- The session's public scalars as the Swift side decodes them (Session(view:)); no text.
local function scalars(s)
  local out = {}
  for _, field in ipairs({'id', 'name', 'language', 'revision', 'status', 'created_at', 'updated_at', 'expires_at', 'max_participants'}) do
    out[field] = s[field]
  end
  for _, field in ipairs(CONTROLS) do out[field] = s[field] or '0' end
  out.committed_revision = s.committed_revision
  return out
end
local function view(s)
  return cjson.encode({session = scalars(s), participants = participant_list()})
end
-- Publishes a channel message (channel_message in lib.lua) on the session's `channel`: 'events'
-- (every member; the default) or 'private' (interviewers only). Sharded pub/sub (SPUBLISH;
-- gateways SSUBSCRIBE), on one Redis as on Redis Cluster, where the channel is in the session's
-- slot like every key of this script.
local function publish(exclude, revision, frame_json, channel)
  redis.call('SPUBLISH', CHANNELS[channel or 'events'], channel_message(exclude, revision, frame_json))
end
-- The participant's public face, with its online state.
local function public(p, online)
  return {id = p.id, user_id = p.id, name = p.name, role = p.role, color = p.color, joined_at = p.joined_at, is_online = online}
end
local function add_participant(p, expires)
  redis.call('HSET', K_PARTICIPANTS, p.id, cjson.encode(p))
  redis.call('HSET', K_TOKENS, p.token_hash, p.id)
  redis.call('PEXPIREAT', K_PARTICIPANTS, expires)
  redis.call('PEXPIREAT', K_TOKENS, expires)
end
-- The state of `doc` a commit works on (DOCUMENT_FIELDS, and expires_at), from the session `s`
-- (read with doc.session_fields). The code's is the session hash, converted from the previous
-- layout on the way; the notes' is their own hash, made (empty, at revision 0, expiring with the
-- session) by their first write.
local function open_document(doc, s, now)
  if doc == CODE then
    migrate(s, now)
    return s
  end
  local values = redis.call('HMGET', doc.state, unpack(DOCUMENT_FIELDS))
  local d = {expires_at = s.expires_at, archive_hold_ms = s.archive_hold_ms}
  if values[1] then
    for i = 1, #DOCUMENT_FIELDS do d[DOCUMENT_FIELDS[i]] = values[i] end
    return d
  end
  redis.call('HSET', doc.state, 'layout', LAYOUT, 'revision', 0, 'length', 0, 'bytes_raw', 0, 'bytes_drift', 0,
    'log_bytes', 0, 'snapshot_revision', 0, 'snapshot_log_bytes', 0, 'checkpoint_revision', 0, 'updated_at', now)
  redis.call('HSET', doc.snapshot, 'revision', 0, 'text', '', 'length', 0, 'bytes', 0, 'ts', now)
  redis.call('HSET', doc.checkpoint, 'revision', 0, 'text', '', 'length', 0, 'bytes', 0, 'ts', now,
    'reason', 'created', 'folded_ops', 0, 'folded_bytes', 0, 'authors', '{}')
  for _, key in ipairs({doc.state, doc.snapshot, doc.checkpoint}) do redis.call('PEXPIREAT', key, keep_until(s)) end
  for _, field in ipairs(DOCUMENT_FIELDS) do d[field] = '0' end
  d.layout = LAYOUT
  return d
end
-- Log entries of `doc` after revision `after` up to `last` (inclusive, nil for the newest), oldest
-- first. Element i of the log is revision checkpoint_revision + 1 + i.
local function log_range(doc, s, after, last)
  local offset = tonumber(s.checkpoint_revision) + 1
  local stop = last and (last - offset) or -1
  return redis.call('LRANGE', doc.log, after + 1 - offset, stop)
end
-- Appends the next revision to `doc`'s log and publishes it (on doc.channel, as a doc.op frame);
-- the text is not touched. An entry is
-- {"revision", "ops", "user_id", "name", "color" (when a participant made it), "ts" (Redis TIME,
-- ms), "bytes" (the byte bound after it)}: the op message's data plus the time and the bound, and
-- it counts its length against the log cap.
-- ops_json spans the whole document (its trailing retain written out), as later ops made at this
-- revision transform against it length for length. author_json: the author's fields as JSON
-- (author_json below; '' for none). now: Redis' time, a number or its text (now_ms_text).
-- Returns the revision and whether a new snapshot and a fold of the log are due.
-- Every number here is converted to text once and every text to a number once, by arithmetic (a
-- conversion costs Redis' Lua about as much as a command's argument; tonumber makes two; see
-- now_ms_text): a commit runs this on every keystroke.
local function append_op(doc, s, ops_json, length, bytes_raw, author_json, exclude, now, bounds)
  local revision = s.revision + 1
  local revision_text, bytes_raw_text = tostring(revision), tostring(bytes_raw)
  local data = '{"revision":' .. revision_text .. ',"ops":' .. ops_json .. author_json
  local entry = data .. ',"ts":' .. now .. ',"bytes":' .. bytes_raw_text .. '}'
  redis.call('RPUSH', doc.log, entry)
  local log_bytes = s.log_bytes + #entry
  redis.call('HSET', doc.state, 'revision', revision_text, 'length', length, 'bytes_raw', bytes_raw_text,
    'log_bytes', log_bytes, 'updated_at', now)
  -- The first entry after the checkpoint starts the log key: it expires with the session.
  if s.revision == s.checkpoint_revision then redis.call('PEXPIREAT', doc.log, keep_until(s)) end
  publish(exclude, revision_text, frame(doc.op, data .. '}', now), doc.channel)
  s.revision = revision_text
  -- Due once when a bound is crossed, then again every 8 revisions while it stays crossed (a
  -- writer that failed is replaced by the next committer). The bounds grow with the document (an
  -- op per KiB of text, as many log bytes as the text has), so writing a snapshot, which copies
  -- the text, costs each op about the same at any size.
  local doc_bytes = bytes_raw - s.bytes_drift
  local ops_bound = math.max(bounds.snapshot_ops, math.floor(doc_bytes / 1024))
  local bytes_bound = math.max(bounds.snapshot_bytes, doc_bytes)
  local since = revision - s.snapshot_revision
  local since_bytes = log_bytes - (s.snapshot_log_bytes or 0)
  local snapshot_due = (since >= ops_bound or since_bytes >= bytes_bound) and
    (since == ops_bound or since % 8 == 0 or since_bytes - #entry < bytes_bound)
  local fold_due = revision % 8 == 0 and log_bytes > bounds.log_bytes
  return revision, snapshot_due and 1 or 0, fold_due and 1 or 0
end
-- An op's author as the log entry's and the frame's fields: ',"user_id":...,"name":...,"color":...'
-- ('' for none). A commit gets it made by the gateway (CommitAuthor.json); the other writers make
-- it here from the participant.
local function author_json(author)
  if not author then return '' end
  return ',"user_id":' .. cjson.encode(author.id) .. ',"name":' .. cjson.encode(author.name) .. ',"color":' .. cjson.encode(author.color)
end
-- Replaces the whole text of `doc` (a PATCH, a save, a legacy client's code_update, a PUT of the
-- notes) as one revision: logged as delete-all + insert, and written as the new snapshot, since
-- the text is at hand.
local function replace_text(doc, s, text, length, author, exclude, now, bounds)
  local parts = {}
  if tonumber(s.length) > 0 then table.insert(parts, tostring(-tonumber(s.length))) end
  if text ~= '' then table.insert(parts, cjson.encode(text)) end
  local bytes_raw = #text + tonumber(s.bytes_drift)
  local revision = append_op(doc, s, '[' .. table.concat(parts, ',') .. ']', length, bytes_raw, author_json(author), exclude, now,
    bounds)
  redis.call('HSET', doc.snapshot, 'revision', revision, 'text', text, 'length', length, 'bytes', #text, 'ts', now)
  redis.call('PEXPIREAT', doc.snapshot, keep_until(s))
  redis.call('HSET', doc.state, 'snapshot_revision', revision, 'snapshot_log_bytes', redis.call('HGET', doc.state, 'log_bytes'))
  s.snapshot_revision = tostring(revision)
  return revision
end
-- The bounds a commit is checked against, from ARGV at `at`: snapshot every N ops, every N bytes
-- of log, the log cap.
local function bounds_at(at)
  return {snapshot_ops = ARGV[at] + 0, snapshot_bytes = ARGV[at + 1] + 0, log_bytes = ARGV[at + 2] + 0}
end

