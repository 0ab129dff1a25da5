-- KEYS: Terminals.keys (the session's terminal hash, its input stream, the session hash, the
-- terminal log). ARGV: run id, the output chunk (UTF-8 text), when it was written (ms, the
-- runner's clock), the log's cap per run and way, the log's cap per session (bytes).
-- The runner's output of an interactive run into the terminal log (a terminal-output entry, see
-- log_terminal), while the run is the session's live interactive run: 1 logged, 0 not.
if redis.call('HGET', KEYS[1], 'job') ~= ARGV[1] then return 0 end
local entry = {type = 'terminal-output', run_id = ARGV[1], data = ARGV[2], at = tonumber(ARGV[3])}
return log_terminal(KEYS, 'out', entry, #ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
