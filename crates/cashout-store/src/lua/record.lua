-- The record is one string: a fixed-width header, then the cashout as JSON. The header holds what
-- scripts read and change without touching the JSON (positions are 1-based):
--   1 'V', 2-11 version        12 'D', 13-25 due ms (spaces: nothing due)
--  26 'L', 27-39 lease until   40 'N', 41-45 deliveries   46 'T', 47-86 lease token (sha1 hex)
--  87 '\n', 88- JSON
local NO_TOKEN = string.rep(' ', 40)
local function pad(n, w)
  local s = string.format('%d', n)
  return string.rep('0', w - #s) .. s
end
local function due_field(d)
  if d == nil or d == '' then
    return string.rep(' ', 13)
  end
  return pad(tonumber(d), 13)
end
local function header(version, due, lease_until, deliveries, token)
  return 'V' .. pad(version, 10) .. 'D' .. due_field(due) .. 'L' .. pad(lease_until, 13) ..
    'N' .. pad(math.min(deliveries, 99999), 5) .. 'T' .. token .. '\n'
end
local function parse(v)
  return {
    version = string.sub(v, 2, 11),
    due = tonumber(string.sub(v, 13, 25)),
    lease_until = tonumber(string.sub(v, 27, 39)) or 0,
    deliveries = tonumber(string.sub(v, 41, 45)) or 0,
    token = string.sub(v, 47, 86),
  }
end
