-- KEYS: the session's keys (SessionKeys.all). ARGV: presented token hash ('' for none), 'run' or
-- 'read' (reading the history of an ended session is allowed), '1' to read the question too.
-- Returns {revision, language, user id, user name, role ('host', the participant's role, or ''
-- without a token), '1' and the question JSON or '0' and ''} (the text is read by the
-- document reader, never here); errors NOTFOUND, GONE <why>, FORBIDDEN like the session scripts,
-- LOCKED runs_held for a run by anybody but an interviewer while runs are held.
local SK = session_keys(KEYS)
local now = now_ms()
local s = redis.call('HMGET', SK.session, 'status', 'expires_at', 'revision', 'language', 'host_token_hash', 'runs_held',
  'question_hidden')
if not s[1] then return gone_or_not_found(SK.gone) end
local err = over(s[2], s[1], now, ARGV[2] == 'read')
if err then return err end
local user_id, name, role = '', '', ''
if ARGV[1] ~= '' and ARGV[1] == s[5] then
  role = 'host'
elseif ARGV[1] ~= '' then
  local id = redis.call('HGET', SK.tokens, ARGV[1])
  if not id then return redis.error_reply('FORBIDDEN this token does not belong to this session') end
  local raw = redis.call('HGET', SK.participants, id)
  if raw then
    local p = cjson.decode(raw)
    user_id, name, role = p.id, p.name, p.role or ''
  end
end
local interviewer = role == 'host' or role == 'interviewer'
-- Runs held back (room controls): a run or a test run is the interviewers' only.
if ARGV[2] == 'run' and s[6] == '1' and not interviewer then
  return redis.error_reply('LOCKED runs_held an interviewer is holding back Run and Run tests for now; '
    .. 'try again when they release them')
end
-- The question is read here, with the checks, so a test run gets the tests of this moment; a
-- hidden question is none for everybody but the interviewers.
local question = ARGV[3] == '1' and (interviewer or s[7] ~= '1') and redis.call('GET', SK.question)
if question then return {s[3], s[4], user_id, name, role, '1', question} end
return {s[3], s[4], user_id, name, role, '0', ''}
