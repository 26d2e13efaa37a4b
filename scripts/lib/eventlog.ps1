# winfleet library (scripts/lib/eventlog.ps1): what eventlog.read reports for one log (see its header).
# Used by eventlog.read and eventlog.apply. Functions only.

function ConvertTo-RetentionName {
    param([bool]$Keep, [bool]$Backup)
    if (-not $Keep) { return 'circular' }
    if ($Backup) { return 'autoBackup' }
    return 'retain'
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
        $key = 'HKLM:\SYSTEM\CurrentControlSet\Services\EventLog\' + $logName
    } else {
        $key = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WINEVT\Channels\' + $logName
    }
    $localSize = Get-RegistryValue -Path $key -Name 'MaxSize' -Default $size
    $retention = Get-RegistryValue -Path $key -Name 'Retention' -Default $null
    $backup = Get-RegistryValue -Path $key -Name 'AutoBackupLogFiles' -Default 0
    if ($null -eq $retention) {
        $localMode = $effective
    } else {
        $localMode = ConvertTo-RetentionName -Keep ([long]$retention -ne 0) -Backup ([long]$backup -ne 0)
    }
    $policyKey = 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\EventLog\' + $logName
    $policy = $null
    if (Test-RegistryKey -Path $policyKey) {
        $policy = @{}
        $v = Get-RegistryValue -Path $policyKey -Name 'MaxSize'
        if ($null -ne $v) { $policy['maxSizeKb'] = [long]$v }
        $v = Get-RegistryValue -Path $policyKey -Name 'Retention'
        if ($null -ne $v) { $policy['retention'] = [string]$v }
        $v = Get-RegistryValue -Path $policyKey -Name 'AutoBackupLogFiles'
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
