--[[
  extend: renews each lease that holds; also sets the queue's marker again if it was missing
  (Redis lost its data).

  KEYS[1]   leases    sorted set: id -> lease deadline
  KEYS[2]   marker    set when a consumer opens

  ARGV[1]   jobPrefix   prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   now         ms (also the marker's value when it is set again)
  ARGV[3]   deadline    ms: the new lease deadline
  ARGV[4..] (id, attempt) per delivery

  Returns { marker, renewed1, renewed2, ... }: marker is 0 when the marker key was missing, else
  1; renewed is 1 or 0 (the lease does not hold) per delivery.
]]
--- @include "includes/lease"

local leasesKey = KEYS[1]
local markerKey = KEYS[2]

local jobPrefix = ARGV[1]
local nowArg = ARGV[2]
local deadline = ARGV[3]
local firstDelivery = 4

local now = tonumber(nowArg)
local out = { 1 }
if redis.call('SET', markerKey, nowArg, 'NX') then out[1] = 0 end
for i = firstDelivery, #ARGV, 2 do
  local id, attempt = ARGV[i], ARGV[i + 1]
  if holds(leasesKey, jobPrefix .. id, id, attempt, now) then
    redis.call('ZADD', leasesKey, 'XX', deadline, id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
