-- Reserves one possible failed attempt on an OMT account before a call OMT could count, unless
-- counted failures plus live reservations reach the maximum (-1). A reservation still 'r'
-- (reserved, not yet marked sent) older than ARGV[4] ms provably never reached OMT (its holder
-- marks it sent before the request leaves) and is dropped here.
-- KEYS[1] counted failures, KEYS[2] reservations hash (token -> 'phase|at_ms|cashout|call')
-- ARGV[1] max, ARGV[2] token, ARGV[3] 'cashout|call', ARGV[4] expiry of unsent ms
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local all = redis.call('HGETALL', KEYS[2])
local live = 0
for i = 1, #all, 2 do
  local phase, at = string.match(all[i + 1], '^(%a)|(%d+)|')
  if phase == 'r' and tonumber(at) + tonumber(ARGV[4]) < now then
    redis.call('HDEL', KEYS[2], all[i])
  else
    live = live + 1
  end
end
if n + live >= tonumber(ARGV[1]) then
  return -1
end
redis.call('HSET', KEYS[2], ARGV[2], 'r|' .. now .. '|' .. ARGV[3])
return n + live + 1
