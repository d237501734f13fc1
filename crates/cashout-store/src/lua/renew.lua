-- Extends a cashout's lease while its step runs, only if we still hold it.
-- KEYS[1] record; ARGV[1] lease token, ARGV[2] new lease end (ms)
local v = redis.call('GETRANGE', KEYS[1], 0, 86)
if #v < 87 or string.sub(v, 47, 86) ~= redis.sha1hex(ARGV[1]) then
  return 0
end
redis.call('SETRANGE', KEYS[1], 26, pad(tonumber(ARGV[2]), 13))
return 1
