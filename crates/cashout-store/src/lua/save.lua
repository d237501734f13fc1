-- Compare-and-set write of a cashout record, its indexes and new history lines, in one step.
-- KEYS[1] record hash, KEYS[2] history list, KEYS[3] due zset, KEYS[4] parked zset,
-- KEYS[5] idempotency key
-- ARGV[1] expected version, ARGV[2] new version, ARGV[3] record json, ARGV[4] id,
-- ARGV[5] due score ('' = not due), ARGV[6] parked score ('' = not parked),
-- ARGV[7] '1' when the write completes a step (resets the delivery counter),
-- ARGV[8] retention ms for a terminal record ('' = keep), ARGV[9..] history entries
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'version', ARGV[2])
if ARGV[7] == '1' then
  redis.call('HSET', KEYS[1], 'deliveries', 0)
end
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[3], ARGV[4])
else
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
end
if ARGV[6] == '' then
  redis.call('ZREM', KEYS[4], ARGV[4])
else
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[4])
end
for i = 9, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
if ARGV[8] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
  redis.call('PEXPIRE', KEYS[2], ARGV[8])
  redis.call('PEXPIRE', KEYS[5], ARGV[8])
end
return 1
