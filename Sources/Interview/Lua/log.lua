-- Log entries after a revision, oldest first (catch-up after a lost subscription, the history
-- route). ARGV: the revision, most entries. Answers {checkpoint revision, entries...}: none from
-- before the checkpoint, which the log no longer holds.
local s = {checkpoint_revision = redis.call('HGET', K_SESSION, 'checkpoint_revision')}
if not s.checkpoint_revision then return {0} end
local after = math.max(tonumber(ARGV[1]), tonumber(s.checkpoint_revision))
local entries = log_range(s, after, after + tonumber(ARGV[2]))
table.insert(entries, 1, s.checkpoint_revision)
return entries
