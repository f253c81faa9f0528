--[[
  marker: sets a marker key unless it exists. A marker gone means Redis lost its data.

  KEYS[1]   marker

  ARGV[1]   value

  Returns 1 when the marker existed, else 0.
]]
local markerKey = KEYS[1]

local value = ARGV[1]

if redis.call('SET', markerKey, value, 'NX') then return 0 end
return 1
