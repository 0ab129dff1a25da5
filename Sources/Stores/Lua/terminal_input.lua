-- KEYS: Terminals.keys (the session's terminal hash, its input stream, the session hash, the
-- terminal log). ARGV: run id, typist's user id, '1' when the typist is an interviewer, kind ('d'
-- text, 'b' base64 bytes, 'w' window size, 'o' open to everyone: payload '1' or '0'), payload, the
-- stream's MAXLEN, its ttl ms, the log's cap per run and way, the log's cap per session (bytes).
-- Typed input ('d', 'b') also goes into the terminal log as a terminal-input entry (log_terminal).
-- Appends one entry {k, p, u} to the stream (what the runner holding the run reads, in order);
-- returns its id, or 'open' for kind 'o'. Errors: RUN_FINISHED (no live interactive run),
-- RUN_NOT_INTERACTIVE (the run is not the session's live interactive run), NOT_ALLOWED (the
-- typist neither started the run nor was let in; for 'o': not an interviewer nor the starter).
local f = redis.call('HMGET', KEYS[1], 'job', 'user', 'open')
if not f[1] then return redis.error_reply('RUN_FINISHED') end
if f[1] ~= ARGV[1] then return redis.error_reply('RUN_NOT_INTERACTIVE') end
-- A run started with the host token (no participant) is the interviewers' to type into.
local starter = f[2] == ARGV[2] or (f[2] == '' and ARGV[3] == '1')
if ARGV[4] == 'o' then
  if not starter and ARGV[3] ~= '1' then return redis.error_reply('NOT_ALLOWED') end
  redis.call('HSET', KEYS[1], 'open', ARGV[5] == '1' and '1' or '0')
  return 'open'
end
if not starter and f[3] ~= '1' then return redis.error_reply('NOT_ALLOWED') end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'k', ARGV[4], 'p', ARGV[5], 'u', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
if (ARGV[4] == 'd' or ARGV[4] == 'b') and KEYS[4] then
  local entry = {type = 'terminal-input', run_id = ARGV[1], user_id = ARGV[2], at = now_ms()}
  if ARGV[4] == 'd' then entry.data = ARGV[5] else entry.data_base64 = ARGV[5] end
  log_terminal(KEYS, 'in', entry, #ARGV[5], tonumber(ARGV[8] or '65536'), tonumber(ARGV[9] or '524288'))
end
return id
