--[[
  deadLetter: moves a leased message to the dead letters, if its lease holds.

  KEYS[1]   leases    sorted set: id -> lease deadline
  KEYS[2]   dead      list of packed dead letters

  ARGV[1]   jobPrefix   prefix of the message hashes (jobPrefix .. id)
  ARGV[2]   now         ms
  ARGV[3]   id
  ARGV[4]   attempt     the delivery's fencing token
  ARGV[5]   reason

  Returns 1, or 0 when the lease does not hold.
]]
--- @include "includes/lease"
--- @include "includes/deadLetter"

local leasesKey = KEYS[1]
local deadKey = KEYS[2]

local jobPrefix = ARGV[1]
local now = tonumber(ARGV[2])
local id = ARGV[3]
local attempt = ARGV[4]
local reason = ARGV[5]

local messageKey = jobPrefix .. id
if not holds(leasesKey, messageKey, id, attempt, now) then return 0 end
redis.call('ZREM', leasesKey, id)
redis.call('RPUSH', deadKey, packDeadLetter(now, id, reason, redis.call('HGET', messageKey, 'body')))
redis.call('DEL', messageKey)
return 1
