-- The record is one string: a fixed-width header, the cashout as JSON, then its history, each
-- line after a '\n'. The header holds what scripts read and change without touching the rest
-- (positions are 1-based):
--   1 'V', 2-11 version        12 'D', 13-25 due ms (spaces: nothing due)
--  26 'L', 27-39 lease until   40 'N', 41-45 deliveries   46 'T', 47-86 lease token (sha1 hex)
--  87 '\n', 88- JSON up to the first '\n' after it (compact JSON never holds a raw newline),
--  then '\n' .. line for each history line (compact JSON too), oldest first.
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
-- Where the JSON of a record ends (the index of its last byte): before the first '\n' after the
-- header, or at the end when the record has no history line.
local function json_end(v)
  local nl = string.find(v, '\n', 88, true)
  if nl then
    return nl - 1
  end
  return #v
end
-- The JSON of a record, without its header and history.
local function json_of(v)
  return string.sub(v, 88, json_end(v))
end
-- The history lines of a record as stored: '' or '\n' .. line for each line.
local function tail_of(v)
  return string.sub(v, json_end(v) + 1)
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
-- True when `v` starts with a well-formed header: every marker in place, numbers where numbers
-- go, a blank or numeric due time, a blank or hex token. A record without one cannot be claimed.
local function valid_header(v)
  if #v < 87 or string.sub(v, 1, 1) ~= 'V' or string.sub(v, 12, 12) ~= 'D' or
    string.sub(v, 26, 26) ~= 'L' or string.sub(v, 40, 40) ~= 'N' or
    string.sub(v, 46, 46) ~= 'T' or string.sub(v, 87, 87) ~= '\n' then
    return false
  end
  local due = string.sub(v, 13, 25)
  local token = string.sub(v, 47, 86)
  return string.find(string.sub(v, 2, 11), '^%d+$') ~= nil and
    (due == string.rep(' ', 13) or string.find(due, '^%d+$') ~= nil) and
    string.find(string.sub(v, 27, 39), '^%d+$') ~= nil and
    string.find(string.sub(v, 41, 45), '^%d+$') ~= nil and
    (token == NO_TOKEN or string.find(token, '^%x+$') ~= nil)
end
