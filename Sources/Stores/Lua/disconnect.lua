-- A connection closes. ARGV: connection id. Publishes user-left when it was the participant's
-- last connection anywhere.
local pid = redis.call('HGET', K_PRESENCE, ARGV[1])
if not pid then return 0 end
redis.call('HDEL', K_PRESENCE, ARGV[1])
if online_set()[pid] then return 0 end
local raw = redis.call('HGET', K_PARTICIPANTS, pid)
if raw then publish('', 0, frame('user-left', cjson.encode(public(cjson.decode(raw), false)), now_ms())) end
return 1
