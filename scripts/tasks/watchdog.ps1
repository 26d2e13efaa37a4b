# winfleet liveness watchdog (scripts/tasks/watchdog.ps1), run as SYSTEM by the scheduled task
# \winfleet\watchdog-<service> (components/host/service_watchdog.py). A deadlocked Go process stays
# Running, so the SCM never restarts it: this loop probes the service's health path every
# intervalSeconds and, after failureThreshold failures in a row *while the service is Running*, restarts
# it (stop within stopTimeoutSeconds, else kill its process so the SCM's recovery takes over). A
# service that is stopped or starting (an update, an operator) is left alone and the count resets.
# The configuration is data: a base64 JSON literal that render_script puts in place of the marker.
$ErrorActionPreference = 'Stop'
$wfJson = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('__WINFLEET_WATCHDOG_CONFIG__'))
$cfg = ConvertFrom-Json -InputObject $wfJson
Add-Type -AssemblyName System.ServiceProcess
$serviceName = [string]$cfg.service
$url = 'http://localhost:' + [int]$cfg.port + [string]$cfg.path
$failures = 0
while ($true) {
    Start-Sleep -Seconds ([int]$cfg.intervalSeconds)
    try {
        $svc = New-Object System.ServiceProcess.ServiceController -ArgumentList $serviceName
        $status = [string]$svc.Status
    } catch {
        $failures = 0
        continue
    }
    if ($status -ne 'Running') {
        $failures = 0
        continue
    }
    $ok = $false
    try {
        $resp = Invoke-WebRequest -Uri $url -UseBasicParsing -TimeoutSec ([int]$cfg.timeoutSeconds) -MaximumRedirection 0
        $ok = ([int]$resp.StatusCode -eq 200)
    } catch {
        $ok = $false
    }
    if ($ok) {
        $failures = 0
        continue
    }
    $failures++
    if ($failures -lt [int]$cfg.failureThreshold) { continue }
    $failures = 0
    $filter = "Name='" + $serviceName.Replace("'", "''") + "'"
    $procId = [int](Get-CimInstance -ClassName Win32_Service -Filter $filter).ProcessId
    try {
        $svc.Stop()
        $svc.WaitForStatus('Stopped', [TimeSpan]::FromSeconds([int]$cfg.stopTimeoutSeconds))
    } catch {
        # it does not stop either: end the process; the SCM sees a crash and runs its recovery actions
        if ($procId -gt 0) { Stop-Process -Id $procId -Force -ErrorAction SilentlyContinue }
        continue
    }
    try { $svc.Start() } catch { $null = $_ }
}
