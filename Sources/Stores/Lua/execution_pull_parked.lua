-- KEYS: the runner's processing list. ARGS (after the key schema): languages it offers. Moves one parked job into the
-- processing list and returns its id, or nil.
for i = 1, #ARGS do
  local id = redis.call('LMOVE', PARKED .. ARGS[i], KEYS[1], 'RIGHT', 'LEFT')
  if id then return id end
end
return false
