-- Log entries of a document after a revision, oldest first (catch-up after a lost subscription,
-- the history route, the timeline). ARGV: the document ('code' or 'notes'), the revision, most
-- entries. Answers {checkpoint revision, entries...}: none from before the checkpoint, which the
-- log no longer holds ({0} for notes never written).
local doc = DOCUMENTS[ARGV[1]]
local s = {checkpoint_revision = redis.call('HGET', doc.state, 'checkpoint_revision')}
if not s.checkpoint_revision then return {0} end
local after = math.max(tonumber(ARGV[2]), tonumber(s.checkpoint_revision))
local entries = log_range(doc, s, after, after + tonumber(ARGV[3]))
table.insert(entries, 1, s.checkpoint_revision)
return entries
