# task.read {"name", "path": "\winfleet\"} -> {"changed": false, "state": {task: {name, path, state, enabled,
#   execute, arguments, userId, triggers: ["boot"|<CIM class>], description}|null, folderExists}}
param($P)
$ErrorActionPreference = 'Stop'
Test-WinfleetTaskName -TaskName ([string]$P.name) -TaskPath ([string]$P.path)
@{ changed = $false; state = (Read-TaskState -TaskName ([string]$P.name) -TaskPath ([string]$P.path)) }
