-- Writes the presenting interviewer's scorecard (PUT /sessions/{id}/scorecards/mine): one per
-- author (a participant with role interviewer, or 'host' for the host token), in the session's
-- scorecards hash. Works while the session is live and after it ended (status completed), until
-- the archiver releases it. A draft may become submitted; a submitted one stays submitted and a
-- further PUT (which must say submit) is an amendment: counted and stamped in the scorecard. Nothing
-- goes to the history: every member (and anyone with the session's id) reads it live.
-- Every write bumps the session's scorecards_version, which archive_release.lua checks.
-- ARGV: presented token hash, the contents JSON ({recommendation, ratings, text}, checked by the
-- gateway against the rubric), submit ('1' or '0'), the most scorecards a session keeps,
-- history_limit (unused). Answers the stored scorecard JSON.
local now = now_ms()
local s, err = load_session(now, true, {'id', 'expires_at', 'status', 'host_token_hash', 'archive_hold_ms'})
if not s then return err end
local who, denied = require_interviewer(s, ARGV[1], 'scorecards')
if not who then return denied end
local author_id, author_name = 'host', 'Host'
if who.id then author_id, author_name = who.id, who.name end
local raw = redis.call('HGET', SK.scorecards, author_id)
local card
if raw then
  card = cjson.decode(raw)
else
  if redis.call('HLEN', SK.scorecards) >= tonumber(ARGV[4]) then
    return redis.error_reply('CONFLICT this session has ' .. ARGV[4] .. ' scorecards, the most it keeps')
  end
  card = {author_id = author_id, author_name = author_name, status = 'draft', created_at = now, amendments = 0}
end
local submit = ARGV[3] == '1'
local event
if card.status == 'submitted' then
  if not submit then
    return redis.error_reply('CONFLICT your scorecard is submitted and cannot return to draft; '
      .. 'to amend it, PUT it again with "submit": true (the amendment is recorded)')
  end
  card.amendments = (tonumber(card.amendments) or 0) + 1
  card.amended_at = now
  event = 'scorecard-amended'
elseif submit then
  card.status = 'submitted'
  card.submitted_at = now
  event = 'scorecard-submitted'
end
local contents = cjson.decode(ARGV[2])
card.recommendation, card.ratings, card.text = contents.recommendation, contents.ratings, contents.text
card.updated_at = now
local encoded = cjson.encode(card)
redis.call('HSET', SK.scorecards, author_id, encoded)
redis.call('PEXPIREAT', SK.scorecards, keep_until(s))
redis.call('HINCRBY', K_SESSION, 'scorecards_version', 1)
if event then
  publish('', 0, frame(event, cjson.encode({author_id = author_id, author_name = author_name,
    submitted_at = card.submitted_at, amendments = card.amendments}), now), 'private')
end
return encoded
