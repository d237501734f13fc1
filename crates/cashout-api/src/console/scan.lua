-- The console's view of parked (or waiting) records, decoded in Redis so that a filtered DLQ page
-- or a count moves a few fields per record instead of whole records.
-- KEYS: record keys, all of one partition (one hash slot).
-- ARGV[1]: 'full' (rows with idempotency key and last error) or 'count' (short rows)
-- ARGV[2]: provider or ''   ARGV[3]: reason or ''   ARGV[4]: lower-case text or ''
-- ARGV[5]: the record header length   ARGV[6]: '1' to keep parked records only, '0' for any
-- Returns, for each record that matches: {index, state, provider, reason, in_doubt,
-- [idempotency_key, last_error, attempts]}; a record that cannot be decoded: {index, '!'}.
local full = ARGV[1] == 'full'
local want_provider, want_reason, text = ARGV[2], ARGV[3], ARGV[4]
local header = tonumber(ARGV[5])
local parked_only = ARGV[6] == '1'
local function str(v)
  if type(v) == 'string' then return v end
  return ''
end
local function has(v, needle)
  return type(v) == 'string' and string.find(string.lower(v), needle, 1, true) ~= nil
end
local out = {}
for i, key in ipairs(KEYS) do
  local raw = redis.call('GET', key)
  if raw then
    -- The JSON runs to the first '\n' after the header; the history lines follow it.
    local nl = string.find(raw, '\n', header + 1, true)
    local ok, c = pcall(cjson.decode, string.sub(raw, header + 1, nl and nl - 1 or -1))
    if not ok or type(c) ~= 'table' or type(c.order) ~= 'table' then
      out[#out + 1] = {i, '!'}
    else
      local parked = c.parked
      if type(parked) ~= 'table' then parked = nil end
      local provider = str(c.order.provider)
      local reason = parked and str(parked.reason) or ''
      local keep = (parked ~= nil or not parked_only)
        and (want_provider == '' or provider == want_provider)
        and (want_reason == '' or reason == want_reason)
      if keep and text ~= '' then
        keep = has(c.id, text) or has(c.order.idempotency_key, text)
          or has(c.last_error, text) or has(c.provider_ref, text)
      end
      if keep then
        -- As dlq::replay decides: a create whose outcome cannot be read.
        local intent = type(c.submit_intent) == 'table'
        local hinted = type(c.hinted_provider_ref) == 'string'
        local state = str(c.state)
        -- Cashout::in_doubt: a lost create, or two payments for one cashout.
        local doubt = ((intent and not hinted and (state == 'created' or provider == 'omt'))
          or reason == 'possible_double_payout') and '1' or '0'
        local row = {i, state, provider, reason, doubt}
        if full then
          row[6] = str(c.order.idempotency_key)
          row[7] = str(c.last_error)
          row[8] = tostring(tonumber(c.attempts) or 0)
        end
        out[#out + 1] = row
      end
    end
  end
end
return out
