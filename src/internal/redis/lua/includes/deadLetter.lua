--[[
  packDeadLetter(at, id, reason, body): a dead letter as one string,
  "<at>:<id length>:<reason length>:" id reason body (read by `parseDead` in management.ts).
]]
local function packDeadLetter(at, id, reason, body)
  return tostring(at) .. ':' .. #id .. ':' .. #reason .. ':' .. id .. reason .. body
end
