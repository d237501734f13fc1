-- Marks a reservation sent, just before its request leaves: from now on only an answer or an
-- operator settles it. 0 when the reservation is gone (expired unsent): the request must not
-- leave. Otherwise 1 + the failures OMT had answered at this moment (what a success of this
-- call may reset: anything counted later may have reached OMT after it).
-- KEYS[1] reservations hash, KEYS[2] counted failures; ARGV[1] token
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], 's|' .. now .. '|' .. string.match(v, '^%a|%d+|(.*)$'))
return 1 + tonumber(redis.call('GET', KEYS[2]) or '0')
