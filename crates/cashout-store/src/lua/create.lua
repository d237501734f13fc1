-- Creates a cashout unless its idempotency key is taken. Atomic: concurrent duplicates
-- cannot both create.
-- KEYS[1] idempotency key, KEYS[2] record hash, KEYS[3] history list, KEYS[4] due zset
-- ARGV[1] id, ARGV[2] record json, ARGV[3] version, ARGV[4] history entry json, ARGV[5] due score (ms)
local existing = redis.call('GET', KEYS[1])
if existing then
  return {0, existing}
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'data', ARGV[2], 'version', ARGV[3], 'deliveries', 0)
redis.call('RPUSH', KEYS[3], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
return {1, ARGV[1]}
