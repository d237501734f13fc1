-- Parks a record that cannot be decoded (reason corrupt_record) without rewriting it, in one
-- step: out of every due zset of its partition, into the parked zset, a side key saying why,
-- a history line (on the side list: the record's own lines cannot be appended to without
-- rewriting it), and the stream entry acknowledged. A header the claim had just changed (lease,
-- delivery count) is put back as it was, so the stored bytes stay the operator's evidence.
-- KEYS[1] record, KEYS[2] side history list, KEYS[3] parked zset, KEYS[4] corrupt side key, KEYS[5] stream,
-- KEYS[6..] the due zsets of the partition
-- ARGV[1] id, ARGV[2] now (ms), ARGV[3] side key JSON, ARGV[4] history line,
-- ARGV[5] 'header' (the header is malformed) or 'body' (the JSON does not decode),
-- ARGV[6] the JSON as claimed (without the history lines), ARGV[7] the header's lease fields before the claim,
-- ARGV[8] the claim's lease token, ARGV[9] stream entry id or '', ARGV[10] consumer group
-- Returns 1 parked, 2 already parked or discarded (left as is), 0 missing, -1 the record
-- changed since the claim (nothing done).
local id = ARGV[1]
local function ack()
  if ARGV[9] ~= '' then
    redis.call('XACK', KEYS[5], ARGV[10], ARGV[9])
  end
end
local function leave_dues()
  for i = 6, #KEYS do
    redis.call('ZREM', KEYS[i], id)
  end
end
local v = redis.call('GET', KEYS[1])
if not v then
  leave_dues()
  ack()
  return 0
end
if ARGV[5] == 'header' then
  if valid_header(v) then
    return -1
  end
else
  if not valid_header(v) or json_of(v) ~= ARGV[6] then
    return -1
  end
  if ARGV[7] ~= '' and string.sub(v, 47, 86) == redis.sha1hex(ARGV[8]) then
    redis.call('SETRANGE', KEYS[1], 26, ARGV[7])
  end
end
leave_dues()
ack()
local side = redis.call('GET', KEYS[4])
if side then
  -- Parked before (a stray delivery), or discarded by an operator: keep what is recorded.
  if not string.find(side, '"discarded_at"', 1, true) then
    redis.call('ZADD', KEYS[3], 'NX', ARGV[2], id)
  end
  return 2
end
redis.call('SET', KEYS[4], ARGV[3])
redis.call('ZADD', KEYS[3], 'NX', ARGV[2], id)
redis.call('RPUSH', KEYS[2], ARGV[4])
return 1
