-- Trims a stream below the oldest entry any consumer group still needs: its oldest pending
-- (unacknowledged) entry, or else everything it has been delivered. An unacked entry is never
-- dropped, and nothing is trimmed before a group exists.
-- Also removes consumers idle for ARGV[1] ms with nothing pending (killed workers' names).
-- KEYS[1] stream; ARGV[1] idle ms
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok or #groups == 0 then
  return 0
end
local function less(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local min = nil
for _, g in ipairs(groups) do
  local t = {}
  for i = 1, #g, 2 do
    t[g[i]] = g[i + 1]
  end
  local ok2, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], t['name'])
  if ok2 then
    for _, c in ipairs(consumers) do
      local ct = {}
      for i = 1, #c, 2 do
        ct[c[i]] = c[i + 1]
      end
      if tonumber(ct['pending']) == 0 and tonumber(ct['idle']) > tonumber(ARGV[1]) then
        redis.call('XGROUP', 'DELCONSUMER', KEYS[1], t['name'], ct['name'])
      end
    end
  end
  local keep = t['last-delivered-id']
  local pend = redis.call('XPENDING', KEYS[1], t['name'])
  if pend[2] then
    keep = pend[2]
  end
  if min == nil or less(keep, min) then
    min = keep
  end
end
if min == nil or min == '0-0' then
  return 0
end
return redis.call('XTRIM', KEYS[1], 'MINID', min)
