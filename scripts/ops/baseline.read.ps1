# baseline.read {} -> {"changed": false, "state": {"services": [{name, type, start, delayedAutostart, status, dependencies}]}}
# Every Win32 service (ServiceController.GetServices(): kernel drivers are not listed), with its
# configuration from HKLM\SYSTEM\CurrentControlSet\Services\<name> (Start, DelayedAutostart,
# DependOnService) and its status enum name: locale-independent, one round trip, so Python can build
# the whole dependency graph (components/host/service_baseline.py). Per-user service instances
# (<Template>_<LUID>) are listed like any service; templates are never in our sets.
param($P)
$ErrorActionPreference = 'Stop'
Add-Type -AssemblyName System.ServiceProcess
$o = [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames
$rows = @()
foreach ($s in [System.ServiceProcess.ServiceController]::GetServices()) {
    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SYSTEM\CurrentControlSet\Services\' + $s.ServiceName)
    if ($null -eq $k) { continue }
    try {
        $deps = $k.GetValue('DependOnService', $null, $o)
        if ($null -eq $deps) { $deps = [string[]]@() }
        $rows += @{
            name             = $s.ServiceName
            type             = [int]$k.GetValue('Type', 0, $o)
            start            = [int]$k.GetValue('Start', 3, $o)
            delayedAutostart = ([int]$k.GetValue('DelayedAutostart', 0, $o) -eq 1)
            status           = $s.Status.ToString()
            dependencies     = [string[]]$deps
        }
    } finally { $k.Close() }
}
@{ changed = $false; state = @{ services = $rows } }
