# winfleet library (scripts/lib/eventlog.ps1): what eventlog.read reports for one log (see its header).
# Used by eventlog.read and eventlog.apply. Functions only.

function ConvertTo-RetentionName {
    param([bool]$Keep, [bool]$Backup)
    if (-not $Keep) { return 'circular' }
    if ($Backup) { return 'autoBackup' }
    return 'retain'
}

function Test-HklmKey {
    # Does HKLM\<SubKey> exist? Microsoft.Win32.Registry, never the registry provider: channel names hold
    # '/', which the provider takes for a separator even with -LiteralPath (PowerShell/PowerShell#5536).
    param([string]$SubKey)
    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($SubKey)
    if ($null -eq $k) { return $false }
    $k.Close()
    return $true
}

function Get-HklmValue {
    # The data of value $Name of HKLM\<SubKey> (not expanded), or $Default when the key or value is missing.
    param([string]$SubKey, [string]$Name, $Default = $null)
    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($SubKey)
    if ($null -eq $k) { return $Default }
    try {
        if ($k.GetValueNames() -notcontains $Name) { return $Default }
        return $k.GetValue($Name, $Default, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
    } finally { $k.Close() }
}

function Read-EventLogState {
    param([Parameter(Mandatory = $true)][string]$Name)
    try {
        $cfg = New-Object System.Diagnostics.Eventing.Reader.EventLogConfiguration -ArgumentList $Name
    } catch {
        # Not found, or a name the event log service cannot parse as a channel path: no such log.
        # Anything else (access denied, service down) is a real failure.
        $inner = $_.Exception.InnerException
        if ($inner -is [System.Diagnostics.Eventing.Reader.EventLogException]) {
            return @{ request = $Name; exists = $false; reason = $inner.Message }
        }
        throw
    }
    try {
        $mode = [string]$cfg.LogMode
        $effective = @{ Circular = 'circular'; AutoBackup = 'autoBackup'; Retain = 'retain' }[$mode]
        $size = [long]$cfg.MaximumSizeInBytes
        $classic = [bool]$cfg.IsClassicLog
        $logName = [string]$cfg.LogName
        $filePath = [Environment]::ExpandEnvironmentVariables([string]$cfg.LogFilePath)
    } finally {
        $cfg.Dispose()
    }
    if ($classic) {
        $key = 'SYSTEM\CurrentControlSet\Services\EventLog\' + $logName
    } else {
        $key = 'SOFTWARE\Microsoft\Windows\CurrentVersion\WINEVT\Channels\' + $logName
    }
    $localSize = Get-HklmValue -SubKey $key -Name 'MaxSize' -Default $size
    $retention = Get-HklmValue -SubKey $key -Name 'Retention' -Default $null
    $backup = Get-HklmValue -SubKey $key -Name 'AutoBackupLogFiles' -Default 0
    if ($null -eq $retention) {
        $localMode = $effective
    } else {
        $localMode = ConvertTo-RetentionName -Keep ([long]$retention -ne 0) -Backup ([long]$backup -ne 0)
    }
    $policyKey = 'SOFTWARE\Policies\Microsoft\Windows\EventLog\' + $logName
    $policy = $null
    if (Test-HklmKey -SubKey $policyKey) {
        $policy = @{}
        $v = Get-HklmValue -SubKey $policyKey -Name 'MaxSize'
        if ($null -ne $v) { $policy['maxSizeKb'] = [long]$v }
        $v = Get-HklmValue -SubKey $policyKey -Name 'Retention'
        if ($null -ne $v) { $policy['retention'] = [string]$v }
        $v = Get-HklmValue -SubKey $policyKey -Name 'AutoBackupLogFiles'
        if ($null -ne $v) { $policy['autoBackup'] = [string]$v }
        if ($policy.Count -eq 0) { $policy = $null }
    }
    # EventLogInformation.FileSize: what the .evtx occupies now (the rest of MaxSize may still be claimed).
    $logInfo = [System.Diagnostics.Eventing.Reader.EventLogSession]::GlobalSession.GetLogInformation(
        $logName, [System.Diagnostics.Eventing.Reader.PathType]::LogName)
    $fileSize = 0
    if ($null -ne $logInfo.FileSize) { $fileSize = [long]$logInfo.FileSize }
    @{
        request      = $Name
        exists       = $true
        name         = $logName
        classic      = $classic
        maxSizeBytes = $size
        retention    = $effective
        local        = @{ maxSizeBytes = [long]$localSize; retention = $localMode }
        policy       = $policy
        filePath     = $filePath
        fileSizeBytes = $fileSize
    }
}

function Read-LogVolume {
    # Size and free space of the volumes the logs' files live on (what event log growth consumes).
    param([object[]]$Logs)
    $letters = @($Logs | Where-Object { $_.exists -and $_.filePath -match '^[A-Za-z]:' } |
        ForEach-Object { $_.filePath.Substring(0, 1).ToUpperInvariant() } | Sort-Object -Unique)
    $out = @()
    foreach ($letter in $letters) {
        $vol = Get-Volume -DriveLetter $letter -ErrorAction Stop
        $out += , @{ letter = $letter; sizeBytes = [long]$vol.Size; freeBytes = [long]$vol.SizeRemaining }
    }
    , $out
}
