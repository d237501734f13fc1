-- Marks a reservation sent, just before its request leaves: from now on only an answer or an
-- operator settles it. 0 when the reservation is gone (expired unsent): the request must not
-- leave.
-- KEYS[1] reservations hash; ARGV[1] token
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], 's|' .. now .. '|' .. string.match(v, '^%a|%d+|(.*)$'))
return 1
