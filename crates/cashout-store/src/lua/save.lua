-- Compare-and-set write of a cashout record with its indexes, new history lines, the next
-- delivery, the lease release and the ack of the current delivery: one step, one round trip.
-- KEYS[1] record, KEYS[2] history list, KEYS[3] due zset, KEYS[4] parked zset,
-- KEYS[5] idempotency key, KEYS[6] stream, KEYS[7] this minute's outcome counts
-- ARGV[1] expected version, ARGV[2] new version, ARGV[3] record json, ARGV[4] id,
-- ARGV[5] due (ms, '' = nothing due: terminal or parked),
-- ARGV[6] due zset: '' remove, 'k' keep as is, else the score (ms),
-- ARGV[7] parked zset: '' leave, 'r' remove, else the score (ms),
-- ARGV[8] '1' when the write completes a step (resets the delivery counter),
-- ARGV[9] retention ms for a terminal record ('' = keep),
-- ARGV[10] '1' to deliver now (XADD),
-- ARGV[11] lease token to give back ('' = keep), ARGV[12] stream entry to ack ('' = none),
-- ARGV[13] consumer group, ARGV[14] outcome to count ('' = none: 'provider:state' when the
-- write finishes the cashout, 'provider:parked' when it parks it),
-- ARGV[15] the token of a delivery that read the record without a lease ('' = none): refused
-- (returns 2) when somebody else holds a live lease; unless the write completes the step, it
-- takes the lease until ARGV[16] (ms); ARGV[17] now (ms), ARGV[18..] history entries
local cur = redis.call('GETRANGE', KEYS[1], 0, 86)
if #cur < 87 or string.sub(cur, 2, 11) ~= pad(tonumber(ARGV[1]), 10) then
  return 0
end
local h = parse(cur)
local deliveries = h.deliveries
if ARGV[8] == '1' then
  deliveries = 0
end
local lease_until, token = h.lease_until, h.token
if ARGV[15] ~= '' then
  local ours = redis.sha1hex(ARGV[15])
  if token ~= NO_TOKEN and token ~= ours and lease_until > tonumber(ARGV[17]) then
    return 2
  end
  if ARGV[8] ~= '1' then
    lease_until, token = tonumber(ARGV[16]), ours
  end
end
if ARGV[11] ~= '' and token == redis.sha1hex(ARGV[11]) then
  lease_until, token = 0, NO_TOKEN
end
redis.call('SET', KEYS[1], header(tonumber(ARGV[2]), ARGV[5], lease_until, deliveries, token) .. ARGV[3], 'KEEPTTL')
if ARGV[6] == '' then
  redis.call('ZREM', KEYS[3], ARGV[4])
elseif ARGV[6] ~= 'k' then
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[4])
end
if ARGV[7] == 'r' then
  redis.call('ZREM', KEYS[4], ARGV[4])
elseif ARGV[7] ~= '' then
  redis.call('ZADD', KEYS[4], ARGV[7], ARGV[4])
end
if #ARGV >= 18 then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 18))
end
if ARGV[14] ~= '' and redis.call('HINCRBY', KEYS[7], ARGV[14], 1) == 1 then
  redis.call('PEXPIRE', KEYS[7], 7200000)
end
if ARGV[9] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[9])
  redis.call('PEXPIRE', KEYS[2], ARGV[9])
  redis.call('PEXPIRE', KEYS[5], ARGV[9])
end
if ARGV[10] == '1' then
  redis.call('XADD', KEYS[6], '*', 'id', ARGV[4])
end
if ARGV[12] ~= '' then
  redis.call('XACK', KEYS[6], ARGV[13], ARGV[12])
end
return 1
