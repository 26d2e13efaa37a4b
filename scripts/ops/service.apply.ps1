# service.apply {"name", "steps": [{"do": verb, ...}], "binaryPath", "eventSource", "dirs",
#                "readiness": {"port","path","timeoutSeconds","pollSeconds"}|null, "startTimeoutSeconds"}
#  -> {"changed": bool, "state": {<as service.read>, "steps": [{"do","changed"}], "readiness"}}
# Python (components/host/windows_service.py) decides and orders the steps; this script only
# performs them, in order, and stops at the first failure (Fail CODE message). Verbs:
#   download        Invoke-WebRequest to a temp file, SHA-256 check; a mismatch deletes the temp
#                   file and fails before anything on the host changed.
#   create          CreateServiceW (P/Invoke below; SERVICE_WIN32_OWN_PROCESS, SERVICE_ERROR_NORMAL).
#   mkdir           Directory + explicit Allow ACE (by SID for NT SERVICE\<name>: S-1-5-80-<SHA-1 of the
#                   upper-case name>, so it works before the service exists).
#   stop/start/restart  ServiceController, bounded waits; a stop refuses while dependents run.
#   stopOther/startOther  the same for a running dependent of ours (stopped first, started again last).
#   install_binary  old binary -> <path>.winfleet-old, new -> path, old deleted (kept until then).
#   config          ChangeServiceConfigW (SERVICE_NO_CHANGE for absent fields; password only when given).
#   description / delayed / sidType / preshutdown / failureFlag
#                   ChangeServiceConfig2W levels 1 / 3 / 5 / 7 / 4 (SERVICE_CONFIG_DESCRIPTION,
#                   _DELAYED_AUTO_START_INFO, _SERVICE_SID_INFO, _PRESHUTDOWN_INFO (ms; Windows
#                   default 10 s since build 15063), _FAILURE_ACTIONS_FLAG (the SCM then also runs the
#                   failure actions when the service stops with a non-zero exit code)).
#   failureActions  sc.exe failure <name> reset= <s> actions= type/ms/...: an argument array, exit
#                   code only (sc.exe enables SE_SHUTDOWN_NAME, which a reboot action needs).
#   environment     HKLM\SYSTEM\CurrentControlSet\Services\<name>\Environment, REG_MULTI_SZ from a
#                   [string[]]; removed when empty (an empty value fails service start with error 87).
#   eventSource     HKLM\SYSTEM\CurrentControlSet\Services\EventLog\<log>\<source> set to exactly the
#                   given values, or removed when values is null.
#   delete          stop, DeleteService, wait until the SCM has removed it (fails if still marked).
#   removeFile / removeDir (+ empty parents up to upTo) / revoke (explicit ACEs of an identity).
param($P)
$ErrorActionPreference = 'Stop'
Add-Type -AssemblyName System.ServiceProcess

$scmSource = @'
using System;
using System.ComponentModel;
using System.Runtime.InteropServices;
public static class WinfleetScm {
    const uint SC_MANAGER_ALL_ACCESS = 0xF003F;
    const uint SERVICE_ALL_ACCESS = 0xF01FF;
    public const uint NO_CHANGE = 0xFFFFFFFF;
    [DllImport("advapi32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    static extern IntPtr OpenSCManagerW(string machine, string database, uint access);
    [DllImport("advapi32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    static extern IntPtr OpenServiceW(IntPtr scm, string name, uint access);
    [DllImport("advapi32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    static extern IntPtr CreateServiceW(IntPtr scm, string name, string display, uint access, uint type,
        uint start, uint error, string path, string group, IntPtr tag, string deps, string account, string password);
    [DllImport("advapi32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    static extern bool ChangeServiceConfigW(IntPtr svc, uint type, uint start, uint error, string path,
        string group, IntPtr tag, string deps, string account, string password, string display);
    [DllImport("advapi32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    static extern bool ChangeServiceConfig2W(IntPtr svc, uint level, IntPtr info);
    [DllImport("advapi32.dll", SetLastError = true)]
    static extern bool DeleteService(IntPtr svc);
    [DllImport("advapi32.dll", SetLastError = true)]
    static extern bool CloseServiceHandle(IntPtr handle);

    static string Block(string[] deps) {
        // double-NUL-terminated list; the marshaller adds the final NUL. "" = no dependencies.
        if (deps == null) return null;
        return deps.Length == 0 ? "" : String.Join("\0", deps) + "\0";
    }
    static IntPtr Manager() {
        IntPtr h = OpenSCManagerW(null, null, SC_MANAGER_ALL_ACCESS);
        if (h == IntPtr.Zero) throw new Win32Exception(Marshal.GetLastWin32Error());
        return h;
    }
    static IntPtr Open(IntPtr scm, string name) {
        IntPtr h = OpenServiceW(scm, name, SERVICE_ALL_ACCESS);
        if (h == IntPtr.Zero) throw new Win32Exception(Marshal.GetLastWin32Error());
        return h;
    }
    public static void Create(string name, string display, string path, uint start, string[] deps, string account, string password) {
        IntPtr scm = Manager();
        try {
            IntPtr h = CreateServiceW(scm, name, display, SERVICE_ALL_ACCESS, 0x10, start, 1, path, null,
                IntPtr.Zero, Block(deps), account, password);
            if (h == IntPtr.Zero) throw new Win32Exception(Marshal.GetLastWin32Error());
            CloseServiceHandle(h);
        } finally { CloseServiceHandle(scm); }
    }
    public static void Config(string name, uint start, string path, string[] deps, string account, string password, string display) {
        IntPtr scm = Manager();
        try {
            IntPtr h = Open(scm, name);
            try {
                if (!ChangeServiceConfigW(h, NO_CHANGE, start, NO_CHANGE, path, null, IntPtr.Zero, Block(deps), account, password, display))
                    throw new Win32Exception(Marshal.GetLastWin32Error());
            } finally { CloseServiceHandle(h); }
        } finally { CloseServiceHandle(scm); }
    }
    static void Config2(string name, uint level, IntPtr info) {
        IntPtr scm = Manager();
        try {
            IntPtr h = Open(scm, name);
            try {
                if (!ChangeServiceConfig2W(h, level, info)) throw new Win32Exception(Marshal.GetLastWin32Error());
            } finally { CloseServiceHandle(h); }
        } finally { CloseServiceHandle(scm); }
    }
    static void Config2Dword(string name, uint level, uint value) {
        IntPtr info = Marshal.AllocHGlobal(4);
        try { Marshal.WriteInt32(info, unchecked((int)value)); Config2(name, level, info); }
        finally { Marshal.FreeHGlobal(info); }
    }
    public static void SetDescription(string name, string text) {
        IntPtr str = Marshal.StringToHGlobalUni(text ?? "");
        IntPtr info = Marshal.AllocHGlobal(IntPtr.Size);
        try { Marshal.WriteIntPtr(info, str); Config2(name, 1, info); }
        finally { Marshal.FreeHGlobal(info); Marshal.FreeHGlobal(str); }
    }
    public static void SetFailureFlag(string name, bool on) { Config2Dword(name, 4, on ? 1u : 0u); }
    public static void SetDelayed(string name, bool on) { Config2Dword(name, 3, on ? 1u : 0u); }
    public static void SetSidType(string name, uint sidType) { Config2Dword(name, 5, sidType); }
    public static void SetPreshutdown(string name, uint ms) { Config2Dword(name, 7, ms); }
    public static void Delete(string name) {
        IntPtr scm = Manager();
        try {
            IntPtr h = Open(scm, name);
            try { if (!DeleteService(h)) throw new Win32Exception(Marshal.GetLastWin32Error()); }
            finally { CloseServiceHandle(h); }
        } finally { CloseServiceHandle(scm); }
    }
}
'@
if (-not ('WinfleetScm' -as [type])) { Add-Type -TypeDefinition $scmSource -Language CSharp }

$opCodes = @{ 2 = 'FILE_NOT_FOUND'; 5 = 'ACCESS_DENIED'; 32 = 'FILE_IN_USE'; 87 = 'INVALID_PARAMETER'
    1051 = 'DEPENDENT_SERVICES_RUNNING'; 1052 = 'INVALID_SERVICE_CONTROL'; 1053 = 'SERVICE_REQUEST_TIMEOUT'
    1056 = 'SERVICE_ALREADY_RUNNING'; 1057 = 'INVALID_SERVICE_ACCOUNT'; 1058 = 'SERVICE_DISABLED'
    1059 = 'CIRCULAR_DEPENDENCY'; 1060 = 'SERVICE_NOT_FOUND'; 1062 = 'SERVICE_NOT_ACTIVE'
    1068 = 'SERVICE_DEPENDENCY_FAIL'; 1069 = 'SERVICE_LOGON_FAILED'; 1072 = 'SERVICE_MARKED_FOR_DELETE'
    1073 = 'SERVICE_EXISTS'; 1075 = 'SERVICE_DEPENDENCY_DELETED'; 1078 = 'DUPLICATE_SERVICE_NAME' }

function ConvertTo-OpCode {
    param([int]$Win32)
    if ($opCodes.ContainsKey($Win32)) { return $opCodes[$Win32] }
    return "WIN32_$Win32"
}

function Invoke-Win32 {
    # Run $Action; a Win32Exception (possibly wrapped) becomes Fail <CODE> with the Win32 number.
    param([string]$What, [scriptblock]$Action)
    try { & $Action } catch {
        $e = $_.Exception
        while ($null -ne $e) {
            if ($e -is [System.ComponentModel.Win32Exception]) {
                Fail (ConvertTo-OpCode $e.NativeErrorCode) "$What failed: $($e.Message) (Win32 error $($e.NativeErrorCode))"
            }
            $e = $e.InnerException
        }
        throw
    }
}

# ---- reads: kept identical to scripts/ops/service.read.ps1 (a test compares them) ----------
#region read-functions
function ConvertTo-RegData {
    param($Key, [string]$Name)
    $kind = $Key.GetValueKind($Name)
    $data = $Key.GetValue($Name, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
    switch ($kind.ToString()) {
        'String' { return @{ kind = 'REG_SZ'; data = [string]$data } }
        'ExpandString' { return @{ kind = 'REG_EXPAND_SZ'; data = [string]$data } }
        'MultiString' { return @{ kind = 'REG_MULTI_SZ'; data = [string[]]$data } }
        'DWord' { return @{ kind = 'REG_DWORD'; data = [BitConverter]::ToUInt32([BitConverter]::GetBytes([int32]$data), 0) } }
        'QWord' { return @{ kind = 'REG_QWORD'; data = [int64]$data } }
        default { return @{ kind = 'REG_BINARY'; data = ([BitConverter]::ToString([byte[]]$data) -replace '-', '').ToLowerInvariant() } }
    }
}

function Get-KeySnapshot {
    # {value name: {kind, data}} of HKLM\<SubKey>, or $null when the key does not exist.
    param([string]$SubKey)
    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($SubKey)
    if ($null -eq $k) { return $null }
    try {
        $out = @{}
        foreach ($n in $k.GetValueNames()) { $out[$n] = ConvertTo-RegData -Key $k -Name $n }
        return $out
    } finally { $k.Close() }
}

function Get-Svc {
    param([string]$Name)
    foreach ($s in [System.ServiceProcess.ServiceController]::GetServices()) {
        if ($s.ServiceName -eq $Name) { return $s }
    }
    return $null
}

function Read-ServiceConfig {
    param($Svc)
    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SYSTEM\CurrentControlSet\Services\' + $Svc.ServiceName)
    if ($null -eq $k) { return $null }
    try {
        $o = [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames
        $fa = $k.GetValue('FailureActions', $null, $o)
        $faHex = $null
        if ($null -ne $fa) { $faHex = ([BitConverter]::ToString([byte[]]$fa) -replace '-', '').ToLowerInvariant() }
        $deps = $k.GetValue('DependOnService', $null, $o)
        if ($null -eq $deps) { $deps = [string[]]@() }
        $envBlock = $k.GetValue('Environment', $null, $o)
        $pre = $k.GetValue('PreshutdownTimeout', $null, $o)
        return @{
            name                             = $Svc.ServiceName
            type                             = [int]$k.GetValue('Type', 0, $o)
            start                            = [int]$k.GetValue('Start', 3, $o)
            delayedAutostart                 = ([int]$k.GetValue('DelayedAutostart', 0, $o) -eq 1)
            imagePath                        = [string]$k.GetValue('ImagePath', '', $o)
            displayName                      = [string]$k.GetValue('DisplayName', '', $o)
            description                      = $k.GetValue('Description', $null, $o)
            objectName                       = [string]$k.GetValue('ObjectName', '', $o)
            dependencies                     = [string[]]$deps
            sidType                          = [int]$k.GetValue('ServiceSidType', 0, $o)
            failureActions                   = $faHex
            failureActionsOnNonCrashFailures = ([int]$k.GetValue('FailureActionsOnNonCrashFailures', 0, $o) -eq 1)
            preshutdownTimeoutMs             = $pre
            environment                      = $envBlock
            status                           = $Svc.Status.ToString()
            markedForDelete                  = ([int]$k.GetValue('DeleteFlag', 0, $o) -eq 1)
        }
    } finally { $k.Close() }
}

function Read-Dir {
    param([string]$Path)
    if (-not (Test-Path -LiteralPath $Path -PathType Container)) {
        return @{ path = $Path; exists = $false; owner = $null; acl = @() }
    }
    $acl = Get-Acl -LiteralPath $Path
    $entries = @()
    foreach ($r in $acl.Access) {
        $entries += @{ identity = $r.IdentityReference.Value; rights = $r.FileSystemRights.ToString()
            type = $r.AccessControlType.ToString(); inherited = [bool]$r.IsInherited }
    }
    return @{ path = $Path; exists = $true; owner = $acl.Owner; acl = $entries }
}
#endregion read-functions

function Get-ExistingSvc {
    param([string]$Name)
    $s = Get-Svc -Name $Name
    if ($null -eq $s) { Fail 'SERVICE_NOT_FOUND' "service $Name does not exist" }
    return $s
}

function Wait-Status {
    param($Svc, [string]$Status, [double]$Seconds)
    try { $Svc.WaitForStatus($Status, [TimeSpan]::FromSeconds($Seconds)) } catch [System.ServiceProcess.TimeoutException] {
        $Svc.Refresh()
        Fail 'SERVICE_REQUEST_TIMEOUT' "$($Svc.ServiceName) did not reach $Status within $Seconds s (status $($Svc.Status))"
    }
}

function Stop-OurService {
    param([string]$Name, [double]$Seconds)
    $s = Get-ExistingSvc -Name $Name
    if ($s.Status -eq 'Stopped') { return $false }
    $running = @($s.DependentServices | Where-Object { $_.Status -ne 'Stopped' } | ForEach-Object { $_.ServiceName })
    if ($running.Count -gt 0) {
        Fail 'DEPENDENT_SERVICES_RUNNING' "$Name has running dependents: $($running -join ', ')"
    }
    Invoke-Win32 "stop $Name" { $s.Stop() }
    Wait-Status -Svc $s -Status 'Stopped' -Seconds $Seconds
    return $true
}

function Start-OurService {
    param([string]$Name, [double]$Seconds)
    $s = Get-ExistingSvc -Name $Name
    $changed = $false
    if ($s.Status -eq 'Stopped') {
        Invoke-Win32 "start $Name" { $s.Start() }
        $changed = $true
    }
    Wait-Status -Svc $s -Status 'Running' -Seconds $Seconds
    return $changed
}

function Get-Identity {
    param($Step)
    if ($Step.sid) { return New-Object System.Security.Principal.SecurityIdentifier ([string]$Step.sid) }
    return New-Object System.Security.Principal.NTAccount ([string]$Step.grant)
}

function Set-DirAce {
    param([string]$Path, $Step)
    $acl = Get-Acl -LiteralPath $Path
    $id = Get-Identity -Step $Step
    $rights = [System.Security.AccessControl.FileSystemRights]([string]$Step.rights)
    $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
    $rule = New-Object System.Security.AccessControl.FileSystemAccessRule ($id, $rights, $inherit, 'None', 'Allow')
    $acl.SetAccessRule($rule)
    Set-Acl -LiteralPath $Path -AclObject $acl
}

function Set-RegKeyExact {
    # Make HKLM\<SubKey> hold exactly $Values ({name: {kind, data}}), or remove it when $Values is $null.
    param([string]$SubKey, $Values)
    $before = Get-KeySnapshot -SubKey $SubKey
    $path = 'HKLM:\' + $SubKey
    if ($null -eq $Values) {
        if ($null -eq $before) { return $false }
        Remove-Item -LiteralPath $path -Recurse -Force
        return $true
    }
    if (-not (Test-Path -LiteralPath $path)) { $null = New-Item -Path $path -Force }
    $names = @($Values.PSObject.Properties | ForEach-Object { $_.Name })
    if ($null -ne $before) {
        foreach ($n in @($before.Keys)) { if ($names -notcontains $n) { Remove-ItemProperty -LiteralPath $path -Name $n } }
    }
    $kinds = @{ REG_SZ = 'String'; REG_EXPAND_SZ = 'ExpandString'; REG_MULTI_SZ = 'MultiString'; REG_DWORD = 'DWord'; REG_QWORD = 'QWord'; REG_BINARY = 'Binary' }
    foreach ($prop in $Values.PSObject.Properties) {
        $v = $prop.Value
        $data = $v.data
        if ($v.kind -eq 'REG_MULTI_SZ') { $data = [string[]]@($v.data) }
        elseif ($v.kind -eq 'REG_BINARY') { $data = [byte[]]@(for ($i = 0; $i -lt $v.data.Length; $i += 2) { [Convert]::ToByte($v.data.Substring($i, 2), 16) }) }
        elseif ($v.kind -eq 'REG_DWORD') { $data = [BitConverter]::ToInt32([BitConverter]::GetBytes([uint32]$v.data), 0) }
        $null = New-ItemProperty -LiteralPath $path -Name $prop.Name -PropertyType $kinds[[string]$v.kind] -Value $data -Force
    }
    $after = Get-KeySnapshot -SubKey $SubKey
    return ((ConvertTo-Json $before -Depth 5 -Compress) -ne (ConvertTo-Json $after -Depth 5 -Compress))
}

function Get-CreatedDirsKey {
    # HKLM\SOFTWARE\winfleet\Directories: one REG_SZ value per directory winfleet created (name = lower-case
    # path), so whichever resource removes the last thing in a shared parent also removes the parent.
    param([bool]$Writable = $false)
    if ($Writable) { return [Microsoft.Win32.Registry]::LocalMachine.CreateSubKey('SOFTWARE\winfleet\Directories') }
    return [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\winfleet\Directories')
}

function New-OwnedDirectory {
    # Create $Path (and missing parents); record every directory created here. Returns $true if any.
    param([string]$Path)
    $missing = @()
    $q = $Path
    while ($q.Length -gt 3 -and -not (Test-Path -LiteralPath $q -PathType Container)) {
        $missing += $q
        $q = Split-Path -LiteralPath $q -Parent
    }
    if ($missing.Count -eq 0) { return $false }
    $null = [System.IO.Directory]::CreateDirectory($Path)
    $k = Get-CreatedDirsKey -Writable $true
    try { foreach ($m in $missing) { $k.SetValue($m.ToLowerInvariant(), $m, [Microsoft.Win32.RegistryValueKind]::String) } } finally { $k.Close() }
    return $true
}

function Test-OwnedDirectory {
    param([string]$Path)
    $k = Get-CreatedDirsKey
    if ($null -eq $k) { return $false }
    try { return ($k.GetValueNames() -contains $Path.ToLowerInvariant()) } finally { $k.Close() }
}

function Remove-OwnedDirectoryRecord {
    param([string]$Path)
    $k = Get-CreatedDirsKey -Writable $true
    $empty = $false
    try {
        $lower = $Path.ToLowerInvariant().TrimEnd('\')
        foreach ($n in $k.GetValueNames()) {
            if ($n -eq $lower -or $n.StartsWith($lower + '\')) { $k.DeleteValue($n) }
        }
        $empty = ($k.ValueCount -eq 0 -and $k.SubKeyCount -eq 0)
    } finally { $k.Close() }
    if ($empty) { [Microsoft.Win32.Registry]::LocalMachine.DeleteSubKey('SOFTWARE\winfleet\Directories', $false) }
}

function Remove-DirUpTo {
    # Remove $Path (ours, recursively), then each parent that is empty and was created by winfleet
    # (recorded above, by whichever resource) or lies within $UpTo (the highest directory found missing).
    param([string]$Path, [string]$UpTo)
    if (-not $UpTo) { $UpTo = $Path }
    $top = $UpTo.ToLowerInvariant()
    $changed = $false
    if (Test-Path -LiteralPath $Path -PathType Container) {
        Remove-Item -LiteralPath $Path -Recurse -Force
        $changed = $true
    }
    Remove-OwnedDirectoryRecord -Path $Path
    $parent = $Path
    while ($true) {
        $parent = Split-Path -LiteralPath $parent -Parent
        if (-not $parent -or $parent.Length -le 3) { break }
        $low = $parent.ToLowerInvariant()
        $ours = (Test-OwnedDirectory -Path $parent) -or $low -eq $top -or $low.StartsWith($top + '\')
        if ($ours -and (Test-Path -LiteralPath $parent -PathType Container) -and -not (Get-ChildItem -LiteralPath $parent -Force | Select-Object -First 1)) {
            Remove-Item -LiteralPath $parent -Force
            Remove-OwnedDirectoryRecord -Path $parent
            $changed = $true
        } else { break }
    }
    return $changed
}

$name = [string]$P.name
$startTimeout = 30.0
if ($P.startTimeoutSeconds) { $startTimeout = [double]$P.startTimeoutSeconds }
$tempFile = $null
$done = @()
try {
    foreach ($step in @($P.steps)) {
        $verb = [string]$step.'do'
        $changed = $true
        switch ($verb) {
            'download' {
                [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
                $tempFile = Join-Path ([System.IO.Path]::GetTempPath()) ('winfleet-' + [guid]::NewGuid().ToString('N') + '.download')
                try { Invoke-WebRequest -Uri ([string]$step.url) -OutFile $tempFile -UseBasicParsing } catch {
                    Fail 'DOWNLOAD_FAILED' "download of the service binary failed: $($_.Exception.Message)"
                }
                $got = (Get-FileHash -LiteralPath $tempFile -Algorithm SHA256).Hash.ToLowerInvariant()
                $want = ([string]$step.sha256).ToLowerInvariant()
                if ($got -ne $want) {
                    Remove-Item -LiteralPath $tempFile -Force
                    $tempFile = $null
                    Fail 'CHECKSUM_MISMATCH' "SHA-256 of $($step.url) is $got, expected $want; nothing was changed"
                }
                $changed = $false
            }
            'create' {
                $deps = [string[]]@($step.dependencies | Where-Object { $_ })
                $pw = $null
                if ($null -ne $step.password) { $pw = [string]$step.password }
                Invoke-Win32 "create $name" { [WinfleetScm]::Create($name, [string]$step.displayName, [string]$step.imagePath, [uint32]$step.start, $deps, [string]$step.account, $pw) }
            }
            'mkdir' {
                $p = [string]$step.path
                $changed = New-OwnedDirectory -Path $p
                if ($step.grant) { Set-DirAce -Path $p -Step $step; $changed = $true }
            }
            'stop' { $changed = Stop-OurService -Name $name -Seconds $startTimeout }
            'install_binary' {
                if ($null -eq $tempFile) { Fail 'HOST_ERROR' 'install_binary without a verified download in the same op' }
                $path = [string]$step.path
                $old = $path + '.winfleet-old'
                $hadOld = Test-Path -LiteralPath $path -PathType Leaf
                if ($hadOld) {
                    if (Test-Path -LiteralPath $old) { Remove-Item -LiteralPath $old -Force }
                    Invoke-Win32 "move aside $path" { [System.IO.File]::Move($path, $old) }
                }
                try { [System.IO.File]::Move($tempFile, $path) } catch {
                    if ($hadOld) { [System.IO.File]::Move($old, $path) }
                    Fail 'FILE_IN_USE' "could not put the new binary in place at ${path}: $($_.Exception.Message)"
                }
                $tempFile = $null
                if ($hadOld) { Remove-Item -LiteralPath $old -Force }
            }
            'config' {
                $start = [WinfleetScm]::NO_CHANGE
                if ($null -ne $step.start) { $start = [uint32]$step.start }
                $deps = $null
                if ($null -ne $step.dependencies) { $deps = [string[]]@($step.dependencies | Where-Object { $_ }) }
                $pw = $null
                if ($null -ne $step.password) { $pw = [string]$step.password }
                $account = $null
                if ($null -ne $step.account) { $account = [string]$step.account }
                $image = $null
                if ($null -ne $step.imagePath) { $image = [string]$step.imagePath }
                $display = $null
                if ($null -ne $step.displayName) { $display = [string]$step.displayName }
                Invoke-Win32 "configure $name" { [WinfleetScm]::Config($name, $start, $image, $deps, $account, $pw, $display) }
            }
            'description' { Invoke-Win32 "set the description of $name" { [WinfleetScm]::SetDescription($name, [string]$step.value) } }
            'delayed' { Invoke-Win32 "set delayed auto-start of $name" { [WinfleetScm]::SetDelayed($name, [bool]$step.value) } }
            'sidType' { Invoke-Win32 "set the SID type of $name" { [WinfleetScm]::SetSidType($name, [uint32]$step.value) } }
            'preshutdown' { Invoke-Win32 "set the pre-shutdown timeout of $name" { [WinfleetScm]::SetPreshutdown($name, [uint32]$step.ms) } }
            'failureFlag' { Invoke-Win32 "set the failure-actions flag of $name" { [WinfleetScm]::SetFailureFlag($name, [bool]$step.value) } }
            'failureActions' {
                $parts = @()
                foreach ($a in @($step.actions)) {
                    if ($null -eq $a) { continue }
                    $t = @{ 0 = ''; 1 = 'restart'; 2 = 'reboot'; 3 = 'run' }[[int]$a.type]
                    $parts += $t
                    $parts += [string][int64]$a.delayMs
                }
                $actions = $parts -join '/'
                if (-not $actions) { $actions = '""' }
                $null = & sc.exe failure $name reset= ([string][int64]$step.resetSeconds) actions= $actions
                if ($LASTEXITCODE -ne 0) { Fail (ConvertTo-OpCode $LASTEXITCODE) "sc.exe failure $name exited with $LASTEXITCODE" }
            }
            'environment' {
                $path = 'HKLM:\SYSTEM\CurrentControlSet\Services\' + $name
                $values = @($step.value | Where-Object { $null -ne $_ })
                if ($values.Count -gt 0) {
                    Set-RegistryValue -Path $path -Name 'Environment' -Kind 'MultiString' -Value ([string[]]$values)
                } else {
                    $changed = Remove-RegistryValue -Path $path -Name 'Environment'
                }
            }
            'eventSource' {
                $sub = 'SYSTEM\CurrentControlSet\Services\EventLog\' + [string]$step.logName + '\' + [string]$step.source
                $changed = Set-RegKeyExact -SubKey $sub -Values $step.values
            }
            'start' { $changed = Start-OurService -Name $name -Seconds $startTimeout }
            'restart' {
                $null = Stop-OurService -Name $name -Seconds $startTimeout
                $null = Start-OurService -Name $name -Seconds $startTimeout
            }
            'stopOther' {
                # a running dependent of our service (listed by service.read), stopped so ours can stop
                $o = Get-ExistingSvc -Name ([string]$step.name)
                $changed = Stop-OurService -Name $o.ServiceName -Seconds $startTimeout
            }
            'startOther' { $changed = Start-OurService -Name ([string]$step.name) -Seconds $startTimeout }
            'delete' {
                $s = Get-Svc -Name $name
                if ($null -eq $s) { $changed = $false } else {
                    $null = Stop-OurService -Name $name -Seconds $startTimeout
                    Invoke-Win32 "delete $name" { [WinfleetScm]::Delete($name) }
                    $deadline = (Get-Date).AddSeconds($startTimeout)
                    while ($null -ne (Get-Svc -Name $name)) {
                        if ((Get-Date) -gt $deadline) { Fail 'SERVICE_MARKED_FOR_DELETE' "$name is marked for deletion but still exists" }
                        Start-Sleep -Milliseconds 200
                    }
                }
            }
            'removeFile' {
                $p = [string]$step.path
                $changed = Test-Path -LiteralPath $p -PathType Leaf
                if ($changed) { Remove-Item -LiteralPath $p -Force }
            }
            'removeDir' { $changed = Remove-DirUpTo -Path ([string]$step.path) -UpTo ([string]$step.upTo) }
            'revoke' {
                $p = [string]$step.path
                $changed = $false
                if (Test-Path -LiteralPath $p -PathType Container) {
                    $acl = Get-Acl -LiteralPath $p
                    $id = Get-Identity -Step @{ sid = $step.sid; grant = $step.identity }
                    $sid = $id
                    if ($id -is [System.Security.Principal.NTAccount]) { $sid = $id.Translate([System.Security.Principal.SecurityIdentifier]) }
                    $explicit = @($acl.GetAccessRules($true, $false, [System.Security.Principal.SecurityIdentifier]) |
                        Where-Object { $_.IdentityReference.Value -eq $sid.Value })
                    if ($explicit.Count -gt 0) {
                        $acl.PurgeAccessRules($sid)
                        Set-Acl -LiteralPath $p -AclObject $acl
                        $changed = $true
                    }
                }
            }
            default { Fail 'BAD_PARAMS' "unknown step $verb" }
        }
        $done += @{ 'do' = $verb; changed = [bool]$changed }
    }
} finally {
    if ($null -ne $tempFile -and (Test-Path -LiteralPath $tempFile)) { Remove-Item -LiteralPath $tempFile -Force }
}

$readiness = $null
if ($null -ne $P.readiness) {
    $r = $P.readiness
    $url = 'http://localhost:' + [int]$r.port + [string]$r.path
    $deadline = (Get-Date).AddSeconds([double]$r.timeoutSeconds)
    $attempts = 0
    while ($true) {
        $attempts++
        $status = $null
        $body = ''
        try {
            $resp = Invoke-WebRequest -Uri $url -UseBasicParsing -TimeoutSec 5 -MaximumRedirection 0
            $status = [int]$resp.StatusCode
            $body = [string]$resp.Content
        } catch {
            $resp = $_.Exception.Response
            if ($null -ne $resp) {
                $status = [int]$resp.StatusCode
                try { $body = (New-Object System.IO.StreamReader ($resp.GetResponseStream())).ReadToEnd() } catch { $body = '' }
            } else { $body = $_.Exception.Message }
        }
        if ($status -eq 200) { $readiness = @{ ready = $true; attempts = $attempts; status = 200 }; break }
        if ((Get-Date).AddSeconds([double]$r.pollSeconds) -gt $deadline) {
            if ($body.Length -gt 200) { $body = $body.Substring(0, 200) }
            $last = "HTTP $status"
            if ($null -eq $status) { $last = 'no response' }
            Fail 'NOT_READY' "$url did not answer 200 within $($r.timeoutSeconds)s ($attempts attempts); last: $last $body"
        }
        Start-Sleep -Milliseconds ([int]([double]$r.pollSeconds * 1000))
    }
}

$svc = Get-Svc -Name $name
$config = $null
$dependents = @()
if ($null -ne $svc) {
    $config = Read-ServiceConfig -Svc $svc
    # EnumDependentServices: direct and indirect dependents, each before what it depends on
    foreach ($d in $svc.DependentServices) { $dependents += @{ name = $d.ServiceName; status = $d.Status.ToString() } }
}
$binary = $null
if ($P.binaryPath) {
    $bp = [string]$P.binaryPath
    $exists = Test-Path -LiteralPath $bp -PathType Leaf
    $hash = $null
    if ($exists) { $hash = (Get-FileHash -LiteralPath $bp -Algorithm SHA256).Hash.ToLowerInvariant() }
    $binary = @{ path = $bp; exists = [bool]$exists; sha256 = $hash }
}
$eventSource = $null
if ($null -ne $P.eventSource) {
    $es = $P.eventSource
    $eventSource = @{ logName = [string]$es.logName; source = [string]$es.source
        values = (Get-KeySnapshot -SubKey ('SYSTEM\CurrentControlSet\Services\EventLog\' + $es.logName + '\' + $es.source)) }
}
$dirs = @()
foreach ($d in @($P.dirs)) { if ($d) { $dirs += (Read-Dir -Path ([string]$d)) } }
$anyChange = @($done | Where-Object { $_.changed }).Count -gt 0
@{
    changed = $anyChange
    state   = @{
        exists      = ($null -ne $svc)
        service     = $config
        dependents  = $dependents
        binary      = $binary
        eventSource = $eventSource
        dirs        = $dirs
        steps       = $done
        readiness   = $readiness
    }
}
