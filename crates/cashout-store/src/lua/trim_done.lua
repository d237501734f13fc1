-- Removes the data of apalis tasks that finished before a cutoff, so `Q:done` and `Q:data`
-- do not grow forever. apalis' own Vacuum is unsafe (see docs/queue.md).
-- KEYS[1] done set, KEYS[2] data hash; ARGV[1] meta key prefix, ARGV[2] cutoff (epoch s),
-- ARGV[3] how many ids to look at
local ids = redis.call('SRANDMEMBER', KEYS[1], tonumber(ARGV[3]))
local removed = 0
for _, id in ipairs(ids) do
  local meta = ARGV[1] .. ':' .. id
  local done_at = tonumber(redis.call('HGET', meta, 'done_at') or '0')
  if done_at > 0 and done_at < tonumber(ARGV[2]) then
    redis.call('HDEL', KEYS[2], id)
    redis.call('DEL', meta)
    redis.call('SREM', KEYS[1], id)
    removed = removed + 1
  end
end
return removed
