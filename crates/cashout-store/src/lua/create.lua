-- Creates a cashout unless its record exists, and delivers its first step. The id is derived
-- from the producer-scoped idempotency key, so the record key is the idempotency record: a taken
-- key is a record already there. Atomic: concurrent duplicates cannot both create. All keys share
-- the partition's hash tag.
-- KEYS[1] record, KEYS[2] due zset, KEYS[3] stream
-- ARGV[1] id, ARGV[2] record json, ARGV[3] version, ARGV[4] first history line,
-- ARGV[5] due (ms), ARGV[6] redelivery deadline (ms), ARGV[7] '1' to deliver now
-- Returns {1} created, {0, json} the key was taken (the existing record's JSON, without its
-- history lines), {2} the key was taken by a record whose header is malformed.
local created = redis.call('SET', KEYS[1],
  header(tonumber(ARGV[3]), ARGV[5], 0, 0, NO_TOKEN) .. ARGV[2] .. '\n' .. ARGV[4], 'NX')
if not created then
  local v = redis.call('GET', KEYS[1])
  if not v or not valid_header(v) then
    return {2}
  end
  return {0, json_of(v)}
end
if ARGV[7] == '1' then
  redis.call('XADD', KEYS[3], '*', 'id', ARGV[1])
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
end
return {1}
