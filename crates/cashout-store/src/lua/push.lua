-- Asks for a look at a cashout at a time: now (onto the stream, with a redelivery deadline)
-- or later (the due zset). Never postpones a look that is due earlier.
-- KEYS[1] due zset, KEYS[2] stream
-- ARGV[1] id, ARGV[2] at (ms), ARGV[3] now (ms), ARGV[4] redelivery delay (ms)
if tonumber(ARGV[2]) <= tonumber(ARGV[3]) then
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])
  redis.call('ZADD', KEYS[1], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
  return 1
end
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
return 0
