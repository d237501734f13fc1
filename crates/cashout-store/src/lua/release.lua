-- Gives a cashout's lease back, only if we still hold it.
-- KEYS[1] record; ARGV[1] lease token
local v = redis.call('GETRANGE', KEYS[1], 0, 86)
if #v < 87 or string.sub(v, 47, 86) ~= redis.sha1hex(ARGV[1]) then
  return 0
end
redis.call('SETRANGE', KEYS[1], 26, pad(0, 13) .. 'N' .. string.sub(v, 41, 45) .. 'T' .. NO_TOKEN)
return 1
