--[[
  record: applies records of job states in order, with the first-final-wins rule and the fence
  by attempt (see includes/record), and trims the indexes by the index ttl.

  KEYS[1]   successful   sorted set: id -> at of the final record
  KEYS[2]   failed       sorted set: id -> at of the final record

  ARGV[1]   jobPrefix   prefix of the job hashes (jobPrefix .. id)
  ARGV[2]   ttl         ms, 0 for none: the job hashes' time to live
  ARGV[3]   indexTtl    ms, 0 for none
  ARGV[4]   records     packed: (id, status, message, at, has result "1"/"0", result, attempt or '' or 'new')
                        per record

  Returns 1 (applied) or 0 (refused) per record.
]]
--- @include "includes/record"

local indexes = { KEYS[1], KEYS[2] }

local jobPrefix = ARGV[1]
local ttl = tonumber(ARGV[2])
local indexTtl = tonumber(ARGV[3])
local records = cmsgpack.unpack(ARGV[4])

local latest = {}
local out = {}
for i = 1, #records, 7 do
  out[#out + 1] = recordOne(jobPrefix, ttl, records, i, indexes, latest)
end
trimIndexes(indexes, latest, indexTtl)
return out
