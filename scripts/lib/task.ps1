# winfleet library (scripts/lib/task.ps1): what task.read reports for one scheduled task (see its header).
# Used by task.read and task.apply. Functions only.

function Test-WinfleetTaskName {
    param([Parameter(Mandatory = $true)][string]$TaskName, [Parameter(Mandatory = $true)][string]$TaskPath)
    # -TaskName accepts wildcards: refuse anything but plain names (Python validated them already).
    if ($TaskName -notmatch '^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$' -or $TaskPath -ne '\winfleet\') {
        Fail 'INVALID_PARAMS' "task '$TaskPath$TaskName' is not a winfleet task name"
    }
}

function Read-TaskState {
    param([Parameter(Mandatory = $true)][string]$TaskName, [Parameter(Mandatory = $true)][string]$TaskPath)
    $sched = New-Object -ComObject Schedule.Service
    $sched.Connect()
    $folderExists = $true
    try { $null = $sched.GetFolder($TaskPath.TrimEnd('\')) } catch { $folderExists = $false }
    $task = $null
    if ($folderExists) {
        try {
            $t = Get-ScheduledTask -TaskPath $TaskPath -TaskName $TaskName -ErrorAction Stop
        } catch {
            if ($_.CategoryInfo.Category -ne 'ObjectNotFound') { throw }
            $t = $null
        }
        if ($null -ne $t) {
            $action = @($t.Actions)[0]
            $triggers = @($t.Triggers | ForEach-Object {
                if ([string]$_.CimClass.CimClassName -eq 'MSFT_TaskBootTrigger') { 'boot' } else { [string]$_.CimClass.CimClassName }
            })
            $task = @{
                name        = [string]$t.TaskName
                path        = [string]$t.TaskPath
                state       = [string]$t.State
                enabled     = [bool]$t.Settings.Enabled
                execute     = [string]$action.Execute
                arguments   = [string]$action.Arguments
                userId      = [string]$t.Principal.UserId
                triggers    = $triggers
                description = [string]$t.Description
            }
        }
    }
    @{ task = $task; folderExists = $folderExists }
}
