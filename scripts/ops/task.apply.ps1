# task.apply {"name", "path", "steps": [{do: register, definition: {execute, arguments, description}} | {do: unregister}]}
#   -> read state + "applied": [{do, changed}]
# register: (re)creates the task as SYSTEM, AtStartup, no time limit, restarted every minute if it dies,
# one instance; then starts it. unregister: stops and removes it, then the \winfleet task folder if empty.
param($P)
$ErrorActionPreference = 'Stop'
$name = [string]$P.name
$path = [string]$P.path
Test-WinfleetTaskName -TaskName $name -TaskPath $path
$applied = @()
foreach ($st in @($P.steps)) {
    $verb = [string]$st.do
    $existing = (Read-TaskState -TaskName $name -TaskPath $path).task
    if ($verb -eq 'register') {
        $d = $st.definition
        if ($null -ne $existing) { Stop-ScheduledTask -TaskPath $path -TaskName $name -ErrorAction SilentlyContinue }
        $action = New-ScheduledTaskAction -Execute ([string]$d.execute) -Argument ([string]$d.arguments)
        $trigger = New-ScheduledTaskTrigger -AtStartup
        $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
        $settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 999 `
            -RestartInterval (New-TimeSpan -Minutes 1) -MultipleInstances IgnoreNew -StartWhenAvailable `
            -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
        $null = Register-ScheduledTask -TaskPath $path -TaskName $name -Action $action -Trigger $trigger `
            -Principal $principal -Settings $settings -Description ([string]$d.description) -Force
        Start-ScheduledTask -TaskPath $path -TaskName $name
        $applied += , @{ do = $verb; changed = $true }
    } elseif ($verb -eq 'unregister') {
        $changed = $false
        if ($null -ne $existing) {
            Stop-ScheduledTask -TaskPath $path -TaskName $name -ErrorAction SilentlyContinue
            Unregister-ScheduledTask -TaskPath $path -TaskName $name -Confirm:$false
            $changed = $true
        }
        # Register-ScheduledTask created the folder; the last winfleet task takes it along (never recursive).
        $sched = New-Object -ComObject Schedule.Service
        $sched.Connect()
        try { $folder = $sched.GetFolder($path.TrimEnd('\')) } catch { $folder = $null }
        if ($null -ne $folder -and $folder.GetTasks(1).Count -eq 0 -and $folder.GetFolders(0).Count -eq 0) {
            $sched.GetFolder('\').DeleteFolder($path.Trim('\'), 0)
            $changed = $true
        }
        $applied += , @{ do = $verb; changed = $changed }
    } else {
        Fail 'INVALID_PARAMS' "unknown step '$verb'"
    }
}
$state = Read-TaskState -TaskName $name -TaskPath $path
$state['applied'] = $applied
$any = @($applied | Where-Object { $_.changed }).Count -gt 0
@{ changed = $any; state = $state }
