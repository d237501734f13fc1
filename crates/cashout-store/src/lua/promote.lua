-- Moves the cashouts of one due zset whose time has come onto their stream, in a bounded
-- chunk (never an unbounded unpack), and gives each a redelivery deadline: if no step is
-- recorded by then (a lost entry), it is delivered again.
-- KEYS[1] due zset, KEYS[2] stream
-- ARGV[1] now (ms), ARGV[2] chunk size, ARGV[3] redelivery delay (ms)
-- Returns {moved, score of the earliest remaining member or ''}.
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then
  local deadline = tonumber(ARGV[1]) + tonumber(ARGV[3])
  -- ZADD in slices: Lua's unpack refuses ~8,000 values, whatever the chunk size.
  local z = {}
  for i, id in ipairs(ids) do
    redis.call('XADD', KEYS[2], '*', 'id', id)
    z[#z + 1] = deadline
    z[#z + 1] = id
    if #z >= 1000 then
      redis.call('ZADD', KEYS[1], unpack(z))
      z = {}
    end
  end
  if #z > 0 then
    redis.call('ZADD', KEYS[1], unpack(z))
  end
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#ids, nxt[2] or ''}
