# winfleet: helpers every driver gets. The executor sends the op's area libraries (scripts/lib/<lib>.ps1,
# per OP_LIBS in components/winrm/bootstrap.py), this file, then the op's driver, over stdin; the
# bootstrap dot-sources everything above the end-of-common marker line (the last line of this file)
# into its own scope and runs the driver as a child script block, so drivers can call these functions.
# Keep this file boring: no output, no side effects at load time.

function Fail {
    # Stop the op with a structured error: {"ok": false, "error": {"code": $Code, "message": $Message}}.
    param(
        [Parameter(Mandatory = $true)][string]$Code,
        [Parameter(Mandatory = $true)][string]$Message
    )
    $ex = New-Object System.Exception -ArgumentList $Message
    $ex.Data['WinfleetCode'] = $Code
    throw $ex
}

function Send-WinfleetProgress {
    # One progress line on stderr while the op runs: "#winfleet:progress {json}". The executor reads
    # stderr as WinRS Receive returns it and hands these lines to the provider (shown by the Pulumi CLI);
    # they never reach stdout (the op's one JSON document). Keep messages short and free of secrets.
    param([Parameter(Mandatory = $true)][string]$Step, [Parameter(Mandatory = $true)][string]$Message)
    $line = '#winfleet:progress ' + (ConvertTo-Json -InputObject @{ step = $Step; message = $Message } -Depth 2 -Compress)
    try { [Console]::Error.WriteLine($line) } catch { $null = $_ }
}

function Test-RegistryKey {
    param([Parameter(Mandatory = $true)][string]$Path)
    Test-Path -LiteralPath $Path
}

function Get-RegistryValue {
    # The value's data, or $Default when the key or the value does not exist.
    param(
        [Parameter(Mandatory = $true)][string]$Path,
        [Parameter(Mandatory = $true)][string]$Name,
        $Default = $null
    )
    if (-not (Test-Path -LiteralPath $Path)) { return $Default }
    $key = Get-Item -LiteralPath $Path
    if ($key.GetValueNames() -notcontains $Name) { return $Default }
    return $key.GetValue($Name, $Default, 'DoNotExpandEnvironmentNames')
}

# --- winfleet's own bookkeeping keys: HKLM\SOFTWARE\winfleet\{Journal,Directories,LogonRights}---------------
# Both exist only while they hold something: the op that removes the last value also removes the key, then
# HKLM\SOFTWARE\winfleet when that is empty too, so a destroyed host is left exactly as winfleet found it.
# Why a lock: ops on one host run concurrently (the provider runs ops on different journal keys in parallel,
# each in its own powershell.exe). The registry has no "delete this key if it is empty": RegDeleteKey (what
# .NET DeleteSubKey and PowerShell's Remove-Item call) deletes a key *together with its values* and only
# refuses a key that has subkeys (learn.microsoft.com, RegDeleteKeyW). So "check empty, then delete" in one
# op could delete a journal entry another op set in between, and an op that opened or created the key just
# before another deleted it gets ERROR_KEY_DELETED (1018) from RegSetValueEx on its handle. Every change to
# these keys therefore runs under one host-wide named mutex, and never with -Recurse / DeleteSubKeyTree.

function Enter-WinfleetRegistryLock {
    # Take the host-wide mutex that serialises changes to HKLM\SOFTWARE\winfleet; returns it for
    # Exit-WinfleetRegistryLock. A mutex left by a process that died is ours (AbandonedMutexException).
    $mutex = New-Object System.Threading.Mutex -ArgumentList $false, 'Global\winfleet-registry'
    $held = $false
    try { $held = $mutex.WaitOne(60000) } catch [System.Threading.AbandonedMutexException] { $held = $true }
    if (-not $held) {
        $mutex.Dispose()
        Fail 'REGISTRY_LOCK_TIMEOUT' 'another winfleet op held the registry lock (mutex Global\winfleet-registry) for 60 s'
    }
    return $mutex
}

function Exit-WinfleetRegistryLock {
    param([Parameter(Mandatory = $true)]$Mutex)
    $Mutex.ReleaseMutex()
    $Mutex.Dispose()
}

function Set-WinfleetValue {
    # REG_SZ $Name = $Data in HKLM\SOFTWARE\winfleet\$Sub (key created if missing). Caller holds the lock.
    # CreateSubKey opens the key or creates it (and HKLM\SOFTWARE\winfleet). If the key is deleted between
    # that and SetValue (by anything that does not take our lock), SetValue fails on the stale handle with
    # ERROR_KEY_DELETED: create it again and retry once.
    param([string]$Sub, [string]$Name, [string]$Data)
    for ($attempt = 1; $attempt -le 2; $attempt++) {
        $k = [Microsoft.Win32.Registry]::LocalMachine.CreateSubKey("SOFTWARE\winfleet\$Sub")
        try {
            $k.SetValue($Name, $Data, [Microsoft.Win32.RegistryValueKind]::String)
            return
        } catch {
            if ($attempt -ge 2) { throw }
        } finally { $k.Close() }
    }
}

function Remove-EmptyWinfleetKey {
    # Delete HKLM\SOFTWARE\winfleet\$Sub if it has no values and no subkeys, then HKLM\SOFTWARE\winfleet
    # if that is empty too. Caller holds the lock, so nothing can be added between the check and the delete.
    param([Parameter(Mandatory = $true)][string]$Sub)
    foreach ($path in @("SOFTWARE\winfleet\$Sub", 'SOFTWARE\winfleet')) {
        $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($path)
        if ($null -eq $k) { continue }
        try { $empty = ($k.ValueCount -eq 0 -and $k.SubKeyCount -eq 0) } finally { $k.Close() }
        if (-not $empty) { return }
        [Microsoft.Win32.Registry]::LocalMachine.DeleteSubKey($path, $false)
    }
}

function Write-Journal {
    # One REG_SZ value per journal key, holding JSON.
    param(
        [Parameter(Mandatory = $true)][string]$Key,
        [Parameter(Mandatory = $true)][string]$Json
    )
    $lock = Enter-WinfleetRegistryLock
    try { Set-WinfleetValue -Sub 'Journal' -Name $Key -Data $Json } finally { Exit-WinfleetRegistryLock -Mutex $lock }
}

function Clear-Journal {
    # Remove the entry; the Journal key (and HKLM\SOFTWARE\winfleet) go with the last one.
    param([Parameter(Mandatory = $true)][string]$Key)
    # .NET with explicit Close (not the registry provider) so no handle of ours outlives the key.
    $lock = Enter-WinfleetRegistryLock
    try {
        $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\winfleet\Journal', $true)
        if ($null -ne $k) {
            try { $k.DeleteValue($Key, $false) } finally { $k.Close() }
        }
        Remove-EmptyWinfleetKey -Sub 'Journal'
    } finally { Exit-WinfleetRegistryLock -Mutex $lock }
}

function Read-Journal {
    # Hashtable key -> parsed JSON value; $Keys = $null means every entry.
    param([string[]]$Keys = $null)
    # Under the lock: the key may be removed by a concurrent Clear-Journal, and reading a deleted
    # key's handle fails (ERROR_KEY_DELETED). No key = no entries.
    $entries = @{}
    $lock = Enter-WinfleetRegistryLock
    try {
        $reg = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\winfleet\Journal')
        if ($null -eq $reg) { return $entries }
        try {
            foreach ($name in $reg.GetValueNames()) {
                if ($null -ne $Keys -and $Keys -notcontains $name) { continue }
                $entries[$name] = ConvertFrom-Json -InputObject ([string]$reg.GetValue($name))
            }
        } finally { $reg.Close() }
    } finally { Exit-WinfleetRegistryLock -Mutex $lock }
    return $entries
}

function Get-MachineGuid {
    # Who this host is, whatever name or address reached it: the MachineGuid Windows setup writes once
    # per installation (HKLM\SOFTWARE\Microsoft\Cryptography, REG_SZ). $null if absent.
    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\Microsoft\Cryptography')
    if ($null -eq $k) { return $null }
    try { return [string]$k.GetValue('MachineGuid') } finally { $k.Close() }
}

function ConvertTo-JournalTable {
    # A PSCustomObject from ConvertFrom-Json as a hashtable of its properties ($null: empty).
    param($Object)
    $t = @{}
    if ($null -ne $Object) { foreach ($p in $Object.PSObject.Properties) { $t[$p.Name] = $p.Value } }
    return $t
}

function Update-Journal {
    # Merge one delta (docs/CONTRACTS.md, journal "update") into the entry as it is on the host now, under
    # the lock, so two runs on one host never overwrite each other's holders. Decisions are Python's; this
    # only checks and applies. Phase 'before' (before the op): every item of `expect` must be held by exactly
    # those other holders (else JOURNAL_CONFLICT, nothing changed), then `hold` is recorded (a prior value
    # only where the entry has none). Phase 'after' (the op succeeded): our holds on `release` and the holds
    # of `releaseOther` go; an item nobody holds loses its prior; an empty entry is removed.
    param([Parameter(Mandatory = $true)]$Update, [Parameter(Mandatory = $true)][string]$Phase)
    $key = [string]$Update.key
    $holder = [string]$Update.holder
    $lock = Enter-WinfleetRegistryLock
    try {
        $kind = $null
        $prior = @{}
        $holders = @{}
        $reg = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\winfleet\Journal')
        if ($null -ne $reg) {
            try { $text = $reg.GetValue($key) } finally { $reg.Close() }
            if ($null -ne $text) {
                $old = ConvertFrom-Json -InputObject ([string]$text)
                $kind = $old.kind
                $prior = ConvertTo-JournalTable $old.prior
                foreach ($p in (ConvertTo-JournalTable $old.holders).GetEnumerator()) { $holders[$p.Key] = ConvertTo-JournalTable $p.Value }
            }
        }
        $dirty = $false
        if ($Phase -eq 'before') {
            if ($null -ne $Update.expect) {
                foreach ($p in $Update.expect.PSObject.Properties) {
                    $now = @()
                    if ($holders.ContainsKey($p.Name)) { $now = @($holders[$p.Name].Keys | Where-Object { $_ -ne $holder } | Sort-Object) }
                    $seen = @(@($p.Value) | Where-Object { $null -ne $_ } | Sort-Object)
                    if (($now -join "`n") -ne ($seen -join "`n")) {
                        Fail 'JOURNAL_CONFLICT' "journal $key item $($p.Name) changed since it was read (another run); nothing was changed"
                    }
                }
            }
            if ($null -ne $Update.hold) {
                foreach ($p in $Update.hold.PSObject.Properties) {
                    if (-not $prior.ContainsKey($p.Name)) { $prior[$p.Name] = $p.Value.prior }
                    if (-not $holders.ContainsKey($p.Name)) { $holders[$p.Name] = @{} }
                    $holders[$p.Name][$holder] = $p.Value.claim
                    $dirty = $true
                }
            }
        } else {
            $drops = @()
            foreach ($i in @($Update.release)) { if ($null -ne $i) { $drops += , @($holder, [string]$i) } }
            if ($null -ne $Update.releaseOther) {
                foreach ($p in $Update.releaseOther.PSObject.Properties) {
                    foreach ($i in @($p.Value)) { if ($null -ne $i) { $drops += , @($p.Name, [string]$i) } }
                }
            }
            foreach ($d in $drops) {
                if (-not $holders.ContainsKey($d[1])) { continue }
                $holders[$d[1]].Remove($d[0])
                if ($holders[$d[1]].Count -eq 0) { $holders.Remove($d[1]); $prior.Remove($d[1]) }
                $dirty = $true
            }
        }
        if (-not $dirty) { return }
        if ($prior.Count -eq 0 -and $holders.Count -eq 0) {
            $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\winfleet\Journal', $true)
            if ($null -ne $k) {
                try { $k.DeleteValue($key, $false) } finally { $k.Close() }
            }
            Remove-EmptyWinfleetKey -Sub 'Journal'
        } else {
            $value = @{ v = 1; kind = $kind; prior = $prior; holders = $holders }
            Set-WinfleetValue -Sub 'Journal' -Name $key -Data (ConvertTo-Json -InputObject $value -Depth 20 -Compress)
        }
    } finally { Exit-WinfleetRegistryLock -Mutex $lock }
}

#winfleet:end-of-common
