-- Argo CD health check for modeldeploy.dev/ModelDeployment.
-- Add it to argocd-cm as resource.customizations.health.modeldeploy.dev_ModelDeployment.
-- Healthy only when the spec's own generation is served and Ready; a failed new
-- revision with the previous one still serving is Degraded, not Missing or Healthy.
local hs = {}
hs.status = "Progressing"
hs.message = "Waiting for the operator"
if obj.status == nil then
  return hs
end
local status = obj.status
if status.observedGeneration == nil or obj.metadata.generation == nil
    or status.observedGeneration < obj.metadata.generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(obj.metadata.generation)
  return hs
end
local ready = nil
local optimized = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then ready = condition end
    if condition.type == "Optimized" then optimized = condition end
  end
end
local phase = status.phase or ""
if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = (ready and ready.message) or "Failed"
elseif phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = (optimized and optimized.message) or "A new revision failed; the previous one serves"
elseif phase == "Ready" and ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
else
  hs.status = "Progressing"
  if optimized ~= nil and optimized.reason == "Unschedulable" then
    hs.message = optimized.message
  else
    hs.message = phase ~= "" and phase or "Pending"
  end
end
return hs
