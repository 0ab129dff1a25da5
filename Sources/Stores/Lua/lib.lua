-- The helper library every script begins with (RedisScripts in Swift puts it in front of each
-- script's body): time, the channel message form, load-or-gone, the key layout of a session.
-- Key and channel names are never written here: every script gets them from the Swift key schema
-- (SessionKeys, ExecutionKeys, NodeKeys, LibraryKeys, rate-limit keys) through KEYS and ARGV.
-- Errors are error replies whose first word the Swift side decodes (ScriptError): NOTFOUND,
-- GONE <why>, FULL, FORBIDDEN, UNAUTHORIZED, CONFLICT, FUTURE, STALE, INVALID, TOOLARGE, TOOMANY,
-- BUSY, LOCKED <code> (a room control refuses it: editor_locked, runs_held). Time comes from Redis
-- (TIME), so every gateway and runner shares one clock.

-- The exclude of a message on the events channel that only candidates get (the interviewers get
-- the full view of the same event on the private channel). ChannelMessage.exceptInterviewers in
-- Swift; the contract tests check they agree.
local EXCEPT_INTERVIEWERS = '~interviewers'

-- Redis' clock (TIME, read here only), in Unix milliseconds as decimal text, made without a
-- number conversion: in Redis' Lua, turning text into a number (strtod) or a number into text
-- (sprintf) costs about as much as a command's argument, and a commit stamps its time three times
-- (the log entry, the state, the frame). Arithmetic and `over` take the text as it is.
local function now_ms_text()
  local t = redis.call('TIME')
  local us = t[2]
  return t[1] .. string.sub(string.rep('0', 6 - #us) .. us, 1, 3)
end
-- The same as a number.
local function now_ms()
  return now_ms_text() + 0
end
-- A client frame: {"type", "data" (JSON text), "timestamp"}.
local function frame(kind, data_json, now)
  return '{"type":"' .. kind .. '","data":' .. data_json .. ',"timestamp":' .. now .. '}'
end
-- A channel message (ChannelMessage in Swift): "<exclude> <revision>\n<frame>". exclude: the
-- connection that must not get it ('' for none), or EXCEPT_INTERVIEWERS on events. revision: of
-- the document the channel's ops number (the code on events, the notes on private), 0 for none.
local function channel_message(exclude, revision, frame_json)
  return exclude .. ' ' .. revision .. '\n' .. frame_json
end
-- The error of a session that is not there: GONE <why> while its gone marker lasts, else NOTFOUND.
local function gone_or_not_found(k_gone)
  local gone = redis.call('GET', k_gone)
  if gone then return redis.error_reply('GONE ' .. gone) end
  return redis.error_reply('NOTFOUND')
end
-- The error of a session that is there but over (deleted while its keys wait for the archiver,
-- expired, or ended when `allow_ended` is not set), nil while it is live.
local function over(expires_at, status, now, allow_ended)
  if status == 'deleted' then return redis.error_reply('GONE deleted') end
  if expires_at + 0 <= now + 0 then return redis.error_reply('GONE expired') end
  if status == 'completed' and not allow_ended then return redis.error_reply('GONE ended') end
  return nil
end
-- The KEYS of every session script (SessionKeys.all in Swift builds them in this order; all in
-- the session's slot):
--   1 session      hash: the session's scalars, the document's revision and length
--   2 participants hash participant id -> JSON
--   3 tokens       hash token hash -> participant id
--   4 history      capped list of JSON events
--   5 gone         why a session no longer exists ("expired", "deleted"); outlives it
--   6 ops          the previous layout's capped list of op frames (removed on migration)
--   7 presence     hash connection id -> participant id
--   8 log          list: the op log, one JSON entry per revision, oldest first; element i
--                  is revision checkpoint_revision + 1 + i (see append_op)
--   9 snapshot     hash: revision, text, length, bytes, ts (the latest text written)
--  10 checkpoint   hash: the text the log starts after, and a summary of what was folded
--  11 notes        hash: the interviewers' notes document's revision, length and bounds
--  12 notes-log    list: the notes' op log (as 8 is the code's)
--  13 notes-snapshot   hash: the latest notes text written (as 9)
--  14 notes-checkpoint hash: the notes text its log starts after (as 10)
--  15 question     string: the session's question as JSON, hidden tests included
--  16 events       channel: every member's (sharded pub/sub; a channel, not a key, passed here so
--                  its name is the Swift schema's)
--  17 private      channel: the interviewers' only
--  18 activity     list: the integrity signals (Activity.swift), JSON entries, oldest first, capped
--  19 scorecards   hash author id -> scorecard JSON (scorecard_put.lua)
--  20 terminal-log list: the interactive runs' input and output (Terminals.swift), JSON entries, capped
-- Where each of them is in KEYS, by the name the scripts use.
local SESSION_KEY_INDEX = {session = 1, participants = 2, tokens = 3, history = 4, gone = 5, legacy_ops = 6, presence = 7,
  log = 8, snapshot = 9, checkpoint = 10, notes = 11, notes_log = 12, notes_snapshot = 13, notes_checkpoint = 14,
  question = 15, events = 16, private = 17, activity = 18, scorecards = 19, terminal_log = 20}
local function session_keys(keys)
  local k = {}
  for name, index in pairs(SESSION_KEY_INDEX) do k[name] = keys[index] end
  return k
end

-- The record of a session's terminal (Terminals.keys: 1 the live run's hash, 3 the session hash,
-- 4 the terminal log): appends entry (a table, JSON-encoded) of size bytes, direction 'in' or
-- 'out', while the run has logged at most run_cap bytes that way (counted in the run's hash) and
-- the session session_cap bytes in all (counted in the session hash). The first entry past a cap
-- becomes one 'terminal-truncated' entry, and that direction of that run logs nothing more. The
-- log expires with the session's keys. Nothing when the session is gone.
local function log_terminal(keys, direction, entry, size, run_cap, session_cap)
  local s = redis.call('HMGET', keys[3], 'expires_at', 'archive_hold_ms', 'terminal_logged')
  if not s[1] then return 0 end
  local field = 'logged_' .. direction
  local run_logged = tonumber(redis.call('HGET', keys[1], field) or '0')
  if run_logged < 0 then return 0 end
  if run_logged + size > run_cap or tonumber(s[3] or '0') + size > session_cap then
    redis.call('HSET', keys[1], field, '-1')
    entry = {type = 'terminal-truncated', run_id = entry.run_id, direction = direction, at = entry.at}
  else
    redis.call('HINCRBY', keys[1], field, size)
    redis.call('HINCRBY', keys[3], 'terminal_logged', size)
  end
  redis.call('RPUSH', keys[4], cjson.encode(entry))
  redis.call('PEXPIREAT', keys[4], tonumber(s[1]) + tonumber(s[2] or '0'))
  return 1
end
-- The layers' binders (prelude.lua's session, jobs.lua's jobs): what they derive from KEYS and
-- ARGV. A script run by EVAL binds once, as its layer is read; in the Functions library
-- (function.lua) every function calls bind first, so the layers' names are this call's.
local BINDERS = {}
local function bind(keys, args, layer)
  KEYS, ARGV = keys, args
  local binder = BINDERS[layer]
  if binder then binder() end
end
