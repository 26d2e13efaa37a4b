# winfleet library (scripts/lib/dumps.ps1): what dumps.read reports (see its header). Needs
# registry.ps1 and dirs.ps1. Functions only.

function Read-DumpState {
    param($P)
    $exe = [string]$P.exeName
    $folder = [string]$P.dumpFolder
    $dirs = @()
    foreach ($d in @($P.dirs)) { if ($d) { $dirs += (Read-Dir -Path ([string]$d)) } }
    $auto = Get-RegistryValue -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\AeDebug' -Name 'Auto' -Default $null
    $envBlock = $null
    if ($P.serviceName) {
        $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SYSTEM\CurrentControlSet\Services\' + [string]$P.serviceName)
        if ($null -ne $k) {
            try { $envBlock = $k.GetValue('Environment', $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames) } finally { $k.Close() }
        }
    }
    $missing = $null
    foreach ($parent in @('SOFTWARE\Microsoft\Windows\Windows Error Reporting', 'SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps')) {
        $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($parent)
        if ($null -eq $k) { $missing = 'HKLM\' + $parent; break }
        $k.Close()
    }
    return @{
        # the LocalDumps key's own values (the global settings): where an old winfleet bug wrote ours
        globalValues       = (Get-KeySnapshot -SubKey 'SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps')
        localDumps         = @{ exeName = $exe; missingParent = $missing
            values = (Get-KeySnapshot -SubKey ('SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps\' + $exe)) }
        folder             = (Read-Dir -Path $folder)
        dirs               = $dirs
        driveExists        = (Test-Path -LiteralPath ($folder.Substring(0, 2) + '\') -PathType Container)
        aeDebugAuto        = ([string]$auto -eq '1')
        serviceEnvironment = $envBlock
    }
}
