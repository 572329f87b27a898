-- Argo CD health check for connectsso.io/ConnectSsoApp.
-- Lua 5.1 (Argo CD runs gopher-lua) using only base functions: no string, table or os library.
--
--   no status, or status for an earlier generation  -> Progressing
--   Stalled=True (needs a person)                    -> Degraded, with the condition's message
--   Ready=True and observedGeneration == generation  -> Healthy
--   anything else                                    -> Progressing
local hs = {}

-- The condition of the given type, if conditions is a list of tables holding one.
local function condition(conditions, wanted)
  if type(conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(conditions) do
    if type(c) == "table" and c.type == wanted then
      return c
    end
  end
  return nil
end

-- "Reason: message", or whichever of the two is a string, or the fallback.
local function describe(c, fallback)
  local reason = c and c.reason
  local message = c and c.message
  if type(reason) == "string" and reason ~= "" and type(message) == "string" and message ~= "" then
    return reason .. ": " .. message
  end
  if type(message) == "string" and message ~= "" then
    return message
  end
  if type(reason) == "string" and reason ~= "" then
    return reason
  end
  return fallback
end

local status = type(obj) == "table" and obj.status or nil
local metadata = type(obj) == "table" and obj.metadata or nil
local generation = type(metadata) == "table" and metadata.generation or nil

if type(status) ~= "table" then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local observed = status.observedGeneration
if type(observed) == "number" and type(generation) == "number" and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to process generation " .. tostring(generation)
  return hs
end

local stalled = condition(status.conditions, "Stalled")
if stalled and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled: the operator needs a person to act")
  return hs
end

local ready = condition(status.conditions, "Ready")
if ready and ready.status == "True" then
  if type(observed) == "number" and observed == generation then
    hs.status = "Healthy"
    hs.message = describe(ready, "Ready")
  else
    hs.status = "Progressing"
    hs.message = "Ready, but not yet for generation " .. tostring(generation)
  end
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Waiting for the Ready condition")
return hs
