--[[
  fields: one field of many job hashes of the results store, with what a job's state is read
  with when asked: `processedAt` (a claim's `processing` mark, or a success written as a patch),
  `status` and `at` (see results.ts, `stateOf`). Read-only.

  KEYS[1]   any key of the results' hash tag (routes the call on Redis Cluster); not read

  ARGV[1]   jobPrefix       prefix of the job hashes (jobPrefix .. id)
  ARGV[2]   field           `message` or `result`
  ARGV[3]   withState       '1': also each job's `processedAt`, `status` and `at`; '0': not
  ARGV[4..]                 ids

  Returns the field of each job (nil where missing), each followed by its `processedAt`, `status`
  and `at` (nil where missing) when asked.
]]
local jobPrefix = ARGV[1]
local field = ARGV[2]
local withState = ARGV[3] == '1'
local firstId = 4

local out = {}
for i = firstId, #ARGV do
  local jobKey = jobPrefix .. ARGV[i]
  if withState then
    local fields = redis.call('HMGET', jobKey, field, 'processedAt', 'status', 'at')
    for k = 1, 4 do out[#out + 1] = fields[k] end
  else
    out[#out + 1] = redis.call('HGET', jobKey, field)
  end
end
return out
