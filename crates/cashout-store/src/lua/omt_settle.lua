-- Settles a reservation with OMT's answer: removed, and counted as a failed attempt when OMT
-- counted it (even if an operator cleared the reservation meanwhile: OMT's count is the truth).
-- KEYS[1] counted failures, KEYS[2] reservations hash; ARGV[1] token, ARGV[2] '1' if counted
local had = redis.call('HDEL', KEYS[2], ARGV[1])
if ARGV[2] == '1' then
  redis.call('INCR', KEYS[1])
end
return had
