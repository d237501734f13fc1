-- Creates a cashout unless its idempotency key is taken, and delivers its first step. Atomic:
-- concurrent duplicates cannot both create. All keys share the partition's hash tag.
-- KEYS[1] idempotency key, KEYS[2] record, KEYS[3] due zset, KEYS[4] stream
-- ARGV[1] id, ARGV[2] record json, ARGV[3] version, ARGV[4] first history line,
-- ARGV[5] due (ms), ARGV[6] redelivery deadline (ms), ARGV[7] '1' to deliver now
local existing = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'GET')
if existing then
  return {0, existing}
end
redis.call('SET', KEYS[2],
  header(tonumber(ARGV[3]), ARGV[5], 0, 0, NO_TOKEN) .. ARGV[2] .. '\n' .. ARGV[4])
if ARGV[7] == '1' then
  redis.call('XADD', KEYS[4], '*', 'id', ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
else
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
end
return {1, ARGV[1]}
