-- Gives a cashout's lease back, only if we still hold it.
-- KEYS[1] record hash; ARGV[1] lease token
if redis.call('HGET', KEYS[1], 'lease') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'lease', '', 'lease_until', 0)
  return 1
end
return 0
