-- Compare-and-set write of a cashout record with its indexes, new history lines, the next
-- delivery, the lease release and the ack of the current delivery: one step, one round trip.
-- The record is rewritten whole: header, the new JSON, the history lines it had, the new ones.
-- KEYS[1] record, KEYS[2] due zset, KEYS[3] parked zset, KEYS[4] stream,
-- KEYS[5] this minute's outcome counts
-- ARGV[1] expected version, ARGV[2] new version, ARGV[3] record json, ARGV[4] id,
-- ARGV[5] due (ms, '' = nothing due: terminal or parked),
-- ARGV[6] due zset: '' remove, 'k' keep as is, else the score (ms),
-- ARGV[7] parked zset: '' leave, 'r' remove, else the score (ms),
-- ARGV[8] '1' when the write completes a step (resets the delivery counter),
-- ARGV[9] retention ms for a terminal record ('' = keep: the record's TTL is left as it is);
-- the record is its idempotency key's record too, so nothing else expires with it,
-- ARGV[10] '1' to deliver now (XADD),
-- ARGV[11] lease token to give back ('' = keep), ARGV[12] stream entry to ack ('' = none),
-- ARGV[13] consumer group, ARGV[14] outcome to count ('' = none: 'provider:state' when the
-- write finishes the cashout, 'provider:parked' when it parks it), ARGV[15..] history lines
local cur = redis.call('GET', KEYS[1])
if not cur or #cur < 87 or string.sub(cur, 2, 11) ~= pad(tonumber(ARGV[1]), 10) then
  return 0
end
local h = parse(cur)
local deliveries = h.deliveries
if ARGV[8] == '1' then
  deliveries = 0
end
local lease_until, token = h.lease_until, h.token
if ARGV[11] ~= '' and token == redis.sha1hex(ARGV[11]) then
  lease_until, token = 0, NO_TOKEN
end
local parts = {header(tonumber(ARGV[2]), ARGV[5], lease_until, deliveries, token), ARGV[3],
  tail_of(cur)}
for i = 15, #ARGV do
  parts[#parts + 1] = '\n'
  parts[#parts + 1] = ARGV[i]
end
if ARGV[9] ~= '' then
  redis.call('SET', KEYS[1], table.concat(parts), 'PX', ARGV[9])
else
  redis.call('SET', KEYS[1], table.concat(parts), 'KEEPTTL')
end
if ARGV[6] == '' then
  redis.call('ZREM', KEYS[2], ARGV[4])
elseif ARGV[6] ~= 'k' then
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[4])
end
if ARGV[7] == 'r' then
  redis.call('ZREM', KEYS[3], ARGV[4])
elseif ARGV[7] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[4])
end
if ARGV[14] ~= '' and redis.call('HINCRBY', KEYS[5], ARGV[14], 1) == 1 then
  redis.call('PEXPIRE', KEYS[5], 7200000)
end
if ARGV[10] == '1' then
  redis.call('XADD', KEYS[4], '*', 'id', ARGV[4])
end
if ARGV[12] ~= '' then
  redis.call('XACK', KEYS[4], ARGV[13], ARGV[12])
end
return 1
