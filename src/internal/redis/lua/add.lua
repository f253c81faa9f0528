--[[
  add: adds a member to a coordination set (see includes/coordination).

  KEYS[1]   set

  ARGV[1]   ttl      ms, 0 for none: the set's time to live, set when it is created
  ARGV[2]   member

  Returns the set's size.
]]
--- @include "includes/coordination"

return addMember(KEYS[1], ARGV[2], tonumber(ARGV[1]))
