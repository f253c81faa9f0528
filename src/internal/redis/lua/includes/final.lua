--[[
  final: the statuses of a job's record that end it (first final record wins: see record).
]]
local final = { successful = true, failed = true, cancelled = true }
