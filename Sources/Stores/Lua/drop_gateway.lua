-- A gateway died: forget its connections in this session. ARGV: its connection id prefix.
local flat = redis.call('HGETALL', K_PRESENCE)
local dropped = {}
for i = 1, #flat, 2 do
  if string.sub(flat[i], 1, #ARGV[1]) == ARGV[1] then
    redis.call('HDEL', K_PRESENCE, flat[i])
    dropped[flat[i + 1]] = true
  end
end
local online = online_set()
local now = now_ms()
local count = 0
for pid in pairs(dropped) do
  if not online[pid] then
    local raw = redis.call('HGET', K_PARTICIPANTS, pid)
    if raw then
      publish('', 0, frame('user-left', cjson.encode(public(cjson.decode(raw), false)), now))
      count = count + 1
    end
  end
end
return count
