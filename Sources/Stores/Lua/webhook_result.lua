-- An attempt's outcome. Logged on the endpoint (capped); delivered: the job goes and the
-- endpoint's run of given-up deliveries restarts; failed with a retry: due again after the delay;
-- failed for the last time: the job goes, given up, and the endpoint is disabled (with the
-- reason) once that many deliveries in a row were given up. Nothing but the log changes when the
-- claim was lost meanwhile (another worker's lease, the endpoint deleted).
-- KEYS: WebhookKeys.keys, WebhookKeys.log(endpoint). ARGV: delivery id, endpoint id, 'ok' |
-- 'retry' | 'give-up', the attempt's JSON, retry delay (ms), log cap, given-up deliveries in a row
-- that disable the endpoint. Answers 'ok', 'retry', 'given-up', 'disabled' or 'lost'.
local now = now_ms()
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if raw then
  redis.call('LPUSH', KEYS[6], ARGV[4])
  redis.call('LTRIM', KEYS[6], 0, tonumber(ARGV[6]) - 1)
end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 'lost' end
local outcome = ARGV[3]
if outcome == 'retry' then
  redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[5]), ARGV[1])
  redis.call('HINCRBY', KEYS[5], 'failed', 1)
  return 'retry'
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
if not raw then return 'lost' end
local e = cjson.decode(raw)
local answer
if outcome == 'ok' then
  redis.call('HINCRBY', KEYS[5], 'delivered', 1)
  e.given_up = 0
  e.last_success_at = now
  answer = 'ok'
else
  redis.call('HINCRBY', KEYS[5], 'failed', 1)
  redis.call('HINCRBY', KEYS[5], 'given_up', 1)
  e.given_up = (tonumber(e.given_up) or 0) + 1
  answer = 'given-up'
  if e.enabled and e.given_up >= tonumber(ARGV[7]) then
    e.enabled = false
    e.disabled_at = now
    e.disabled_reason = e.given_up .. ' deliveries in a row were given up after every retry failed; '
      .. 'fix the endpoint, then enable it again with PATCH {"enabled": true}'
    answer = 'disabled'
  end
end
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(e))
return answer
