-- GCRA. KEYS: one per rule (its theoretical arrival time, ms). ARGV: per rule, the
-- emission interval and the tolerance (interval * count), in ms. Returns {allowed,
-- retry_after_ms, index of the tightest rule, its remaining, its reset_ms}.
local now = now_ms()
local allowed, retry = 1, 0
local tightest, tightest_remaining, tightest_reset = 1, math.huge, 0
local arrivals = {}
for i, key in ipairs(KEYS) do
  local interval, tolerance = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local arrival = tat + interval
  local remaining
  if arrival - tolerance > now then
    allowed = 0
    retry = math.max(retry, arrival - tolerance - now)
    remaining = 0
    arrivals[i] = nil
  else
    arrivals[i] = arrival
    remaining = math.floor((tolerance - (arrival - now)) / interval)
  end
  if remaining < tightest_remaining then
    tightest, tightest_remaining, tightest_reset = i, remaining, (arrivals[i] or tat) - now
  end
end
if allowed == 1 then
  for i, key in ipairs(KEYS) do
    redis.call('SET', key, arrivals[i], 'PX', math.max(1, arrivals[i] - now))
  end
end
return {allowed, retry, tightest, tightest_remaining, tightest_reset}
