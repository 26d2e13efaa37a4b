# winfleet library (scripts/lib/service.ps1): what service.read reports, read locale-independently
# from the service's registry key, the ServiceController status, Get-FileHash and Get-Acl (see the
# header of scripts/ops/service.read.ps1) and the service account's "Log on as a service" right. Needs
# registry.ps1, dirs.ps1 and scm.ps1. Functions only.

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
            controlsAccepted                 = (Get-ControlsAccepted -Name $Svc.ServiceName)
        }
    } finally { $k.Close() }
}

function Read-ServiceState {
    # The "state" of service.read (and of service.apply, which adds "steps" and "readiness"); $P is
    # {"name", "binaryPath"|null, "previousPath"|null, "eventSource": {"logName","source"}|null, "dirs": [path],
    # "logonAccount"|null (a domain user or gMSA: report its SeServiceLogonRight as "logonRight")}.
    param($P)
    $name = [string]$P.name
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
    # <exe>.previous left behind by an apply that died between the binary swap and its end
    $leftover = $null
    if ($P.previousPath -and (Test-Path -LiteralPath ([string]$P.previousPath) -PathType Leaf)) { $leftover = [string]$P.previousPath }
    $eventSource = $null
    if ($null -ne $P.eventSource) {
        $eventSource = Read-EventSource -LogName ([string]$P.eventSource.logName) -Source ([string]$P.eventSource.source)
    }
    $dirs = @()
    foreach ($d in @($P.dirs)) { if ($d) { $dirs += (Read-Dir -Path ([string]$d)) } }
    $logonRight = $null
    if ($P.logonAccount) { $logonRight = Read-LogonRight -Account ([string]$P.logonAccount) -Service $name }
    $secretsFile = $null
    if ($null -ne $P.secretsFile) { $secretsFile = Read-SecretsFile -Spec $P.secretsFile }
    return @{
        logonRight  = $logonRight
        exists      = ($null -ne $svc)
        service     = $config
        dependents  = $dependents
        binary      = $binary
        leftoverPrevious = $leftover
        eventSource = $eventSource
        dirs        = $dirs
        secretsFile = $secretsFile
    }
}

# --- "Log on as a service" (SeServiceLogonRight) for domain users and gMSAs ----------------------------------
# CreateService/ChangeServiceConfig do not grant it (only the Services snap-in does); without it the start
# fails with ERROR_SERVICE_LOGON_FAILED 1069 (learn.microsoft.com/windows/security/threat-protection/
# security-policy-settings/log-on-as-a-service). LsaEnumerateAccountRights / LsaAddAccountRights /
# LsaRemoveAccountRights (learn.microsoft.com/windows/win32/api/ntsecapi/) on the account's SID; only a
# direct assignment is read and changed (a right held through a group is not ours to record).

function Initialize-WinfleetLsa {
    if ('WinfleetLsa' -as [type]) { return }
    Add-Type -Language CSharp -TypeDefinition @'
using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Security.Principal;
public static class WinfleetLsa {
    [StructLayout(LayoutKind.Sequential)]
    struct LsaString { public ushort Length; public ushort MaximumLength; public IntPtr Buffer; }
    [StructLayout(LayoutKind.Sequential)]
    struct ObjectAttributes { public int Length; public IntPtr Root; public IntPtr Name; public uint Attributes; public IntPtr Sd; public IntPtr Qos; }
    [DllImport("advapi32.dll")] static extern uint LsaOpenPolicy(IntPtr system, ref ObjectAttributes attrs, uint access, out IntPtr policy);
    [DllImport("advapi32.dll")] static extern uint LsaEnumerateAccountRights(IntPtr policy, byte[] sid, out IntPtr rights, out uint count);
    [DllImport("advapi32.dll")] static extern uint LsaAddAccountRights(IntPtr policy, byte[] sid, LsaString[] rights, uint count);
    [DllImport("advapi32.dll")] static extern uint LsaRemoveAccountRights(IntPtr policy, byte[] sid, bool all, LsaString[] rights, uint count);
    [DllImport("advapi32.dll")] static extern uint LsaFreeMemory(IntPtr buffer);
    [DllImport("advapi32.dll")] static extern uint LsaClose(IntPtr policy);
    [DllImport("advapi32.dll")] static extern int LsaNtStatusToWinError(uint status);
    const uint STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034;   // the account holds no rights at all
    const uint POLICY_ALL_ACCESS = 0x000F0FFF;
    static byte[] Sid(string account) {
        SecurityIdentifier sid = (SecurityIdentifier)new NTAccount(account).Translate(typeof(SecurityIdentifier));
        byte[] b = new byte[sid.BinaryLength];
        sid.GetBinaryForm(b, 0);
        return b;
    }
    static IntPtr Open() {
        ObjectAttributes a = new ObjectAttributes();
        IntPtr policy;
        uint st = LsaOpenPolicy(IntPtr.Zero, ref a, POLICY_ALL_ACCESS, out policy);
        if (st != 0) throw new Win32Exception(LsaNtStatusToWinError(st));
        return policy;
    }
    public static bool Held(string account, string right) {
        IntPtr policy = Open();
        try {
            IntPtr buf; uint n;
            uint st = LsaEnumerateAccountRights(policy, Sid(account), out buf, out n);
            if (st == STATUS_OBJECT_NAME_NOT_FOUND) return false;
            if (st != 0) throw new Win32Exception(LsaNtStatusToWinError(st));
            try {
                int size = Marshal.SizeOf(typeof(LsaString));
                for (int i = 0; i < n; i++) {
                    LsaString s = (LsaString)Marshal.PtrToStructure(new IntPtr(buf.ToInt64() + i * size), typeof(LsaString));
                    if (String.Equals(Marshal.PtrToStringUni(s.Buffer, s.Length / 2), right, StringComparison.OrdinalIgnoreCase)) return true;
                }
                return false;
            } finally { LsaFreeMemory(buf); }
        } finally { LsaClose(policy); }
    }
    public static void Set(string account, string right, bool grant) {
        IntPtr policy = Open();
        IntPtr text = Marshal.StringToHGlobalUni(right);
        try {
            LsaString[] one = new LsaString[1];
            one[0].Buffer = text;
            one[0].Length = (ushort)(right.Length * 2);
            one[0].MaximumLength = (ushort)((right.Length + 1) * 2);
            uint st = grant ? LsaAddAccountRights(policy, Sid(account), one, 1)
                            : LsaRemoveAccountRights(policy, Sid(account), false, one, 1);
            if (st != 0) throw new Win32Exception(LsaNtStatusToWinError(st));
        } finally { Marshal.FreeHGlobal(text); LsaClose(policy); }
    }
}
'@
}

function Read-LogonRight {
    # {account, held, otherServices}: whether $Account directly holds SeServiceLogonRight, and the other
    # services (not $Service) that run as it (a revoke must not break them).
    param([string]$Account, [string]$Service)
    Initialize-WinfleetLsa
    $others = @()
    $root = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SYSTEM\CurrentControlSet\Services')
    try {
        foreach ($n in $root.GetSubKeyNames()) {
            if ($n -eq $Service) { continue }
            $k = $null
            try { $k = $root.OpenSubKey($n) } catch [System.Security.SecurityException] { $k = $null }
            if ($null -eq $k) { continue }
            try { if ([string]$k.GetValue('ObjectName', '') -eq $Account) { $others += $n } } finally { $k.Close() }
        }
    } finally { $root.Close() }
    $held = [bool](Invoke-Win32 "read the rights of $Account" { [WinfleetLsa]::Held($Account, 'SeServiceLogonRight') })
    return @{ account = $Account; held = $held; otherServices = @($others); grantedByWinfleet = (Test-LogonRightMark -Account $Account) }
}

# HKLM\SOFTWARE\winfleet\LogonRights: one REG_SZ per account (name = lower-case account) whose right winfleet
# granted, so whichever service resource is the last one running as that account revokes it, even if it
# found the right already held (granted for another service). The key exists only while it lists something.
function Test-LogonRightMark {
    param([string]$Account)
    $lock = Enter-WinfleetRegistryLock
    try {
        $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\winfleet\LogonRights')
        if ($null -eq $k) { return $false }
        try { return ($k.GetValueNames() -contains $Account.ToLowerInvariant()) } finally { $k.Close() }
    } finally { Exit-WinfleetRegistryLock -Mutex $lock }
}

function Set-LogonRightMark {
    param([string]$Account, [bool]$Granted)
    $lock = Enter-WinfleetRegistryLock
    try {
        if ($Granted) { Set-WinfleetValue -Sub 'LogonRights' -Name $Account.ToLowerInvariant() -Data $Account; return }
        $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\winfleet\LogonRights', $true)
        if ($null -ne $k) {
            try { $k.DeleteValue($Account.ToLowerInvariant(), $false) } finally { $k.Close() }
        }
        Remove-EmptyWinfleetKey -Sub 'LogonRights'
    } finally { Exit-WinfleetRegistryLock -Mutex $lock }
}

function Read-SecretsFile {
    # {path, nonce} -> {path, exists, protected, acl: [{identity, sid, rights, type, inherited}], hmac}: the DACL
    # and HMAC-SHA256(key = nonce, file bytes), never the content (Python compares the HMAC of what it wants).
    param($Spec)
    $path = [string]$Spec.path
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) {
        return @{ path = $path; exists = $false; protected = $false; acl = @(); hmac = $null }
    }
    $acl = Get-Acl -LiteralPath $path
    $sidType = [System.Security.Principal.SecurityIdentifier]
    $entries = @()
    foreach ($r in $acl.GetAccessRules($true, $true, $sidType)) {
        $name = $r.IdentityReference.Value
        try { $name = $r.IdentityReference.Translate([System.Security.Principal.NTAccount]).Value } catch { }
        $entries += @{ identity = $name; sid = $r.IdentityReference.Value; rights = $r.FileSystemRights.ToString()
            type = $r.AccessControlType.ToString(); inherited = [bool]$r.IsInherited }
    }
    $key = [byte[]]@(for ($k = 0; $k -lt $Spec.nonce.Length; $k += 2) { [Convert]::ToByte($Spec.nonce.Substring($k, 2), 16) })
    $mac = New-Object System.Security.Cryptography.HMACSHA256 (, $key)
    try { $hash = $mac.ComputeHash([System.IO.File]::ReadAllBytes($path)) } finally { $mac.Dispose() }
    return @{ path = $path; exists = $true; protected = [bool]$acl.AreAccessRulesProtected; acl = $entries
        hmac = (($hash | ForEach-Object { $_.ToString('x2') }) -join '') }
}

function Write-SecretsFile {
    # The secrets file (WINFLEET_SECRETS_FILE): created by File.Create(path, bufferSize, options, FileSecurity)
    # with a protected DACL (SetAccessRuleProtection($true, $false): inheritance off, nothing copied from the
    # folder) holding exactly $Step.readers, so the content never exists under another ACL; then moved over
    # the old file (a move within a volume keeps the file's ACL).
    # https://learn.microsoft.com/dotnet/api/system.io.file.create (the FileSecurity overload, .NET Framework)
    param($Step)
    $path = [string]$Step.path
    $sec = New-Object System.Security.AccessControl.FileSecurity
    $sec.SetAccessRuleProtection($true, $false)
    foreach ($r in @($Step.readers)) {
        $id = Get-Identity -Step @{ sid = $r.sid; grant = $r.identity }
        $rights = [System.Security.AccessControl.FileSystemRights]([string]$r.rights)
        $sec.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule ($id, $rights, 'Allow')))
    }
    # One fixed temp name, deleted first: File.Create on an existing file keeps that file's DACL (the
    # FileSecurity applies only to a new file), so a copy left by an apply that died is never reused.
    $tmp = $path + '.tmp'
    if (Test-Path -LiteralPath $tmp -PathType Leaf) { [System.IO.File]::Delete($tmp) }
    $bytes = (New-Object System.Text.UTF8Encoding ($false)).GetBytes([string]$Step.content)
    $fs = [System.IO.File]::Create($tmp, 4096, [System.IO.FileOptions]::None, $sec)
    try { $fs.Write($bytes, 0, $bytes.Length) } finally { $fs.Dispose() }
    if (Test-Path -LiteralPath $path -PathType Leaf) { [System.IO.File]::Delete($path) }
    [System.IO.File]::Move($tmp, $path)
}

function Get-ControlsAccepted {
    # SERVICE_STATUS_PROCESS.dwControlsAccepted (QueryServiceStatusEx, SC_STATUS_PROCESS_INFO): the controls
    # the running program accepts; 0 when it is not running. ServiceController has no flag for
    # SERVICE_ACCEPT_PRESHUTDOWN (0x100), hence the P/Invoke. -1 when the query fails.
    # learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-queryservicestatusex
    param([string]$Name)
    if (-not ('WinfleetSvcStatus' -as [type])) {
        Add-Type -TypeDefinition @'
using System;
using System.Runtime.InteropServices;
public static class WinfleetSvcStatus {
    [DllImport("advapi32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    static extern IntPtr OpenSCManagerW(string machine, string database, uint access);
    [DllImport("advapi32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    static extern IntPtr OpenServiceW(IntPtr scm, string name, uint access);
    [DllImport("advapi32.dll", SetLastError = true)]
    static extern bool QueryServiceStatusEx(IntPtr service, int level, byte[] buffer, int size, out int needed);
    [DllImport("advapi32.dll")]
    static extern bool CloseServiceHandle(IntPtr handle);
    public static int ControlsAccepted(string name) {
        IntPtr scm = OpenSCManagerW(null, null, 0x1);          // SC_MANAGER_CONNECT
        if (scm == IntPtr.Zero) return -1;
        try {
            IntPtr h = OpenServiceW(scm, name, 0x4);           // SERVICE_QUERY_STATUS
            if (h == IntPtr.Zero) return -1;
            try {
                byte[] b = new byte[36];                       // SERVICE_STATUS_PROCESS: 9 DWORDs
                int needed;
                if (!QueryServiceStatusEx(h, 0, b, b.Length, out needed)) return -1;
                return BitConverter.ToInt32(b, 8);             // dwServiceType, dwCurrentState, dwControlsAccepted
            } finally { CloseServiceHandle(h); }
        } finally { CloseServiceHandle(scm); }
    }
}
'@
    }
    return [WinfleetSvcStatus]::ControlsAccepted($Name)
}

function Read-EventSource {
    # The source's values under its log (or $null), whether the log's key exists, and every log that has a
    # source of that name: source names are unique on a computer (EventLog.SourceExists searches all logs).
    param([string]$LogName, [string]$Source)
    $root = 'SYSTEM\CurrentControlSet\Services\EventLog'
    $in = @()
    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($root)
    if ($null -ne $k) {
        try {
            foreach ($log in $k.GetSubKeyNames()) {
                $s = $k.OpenSubKey($log + '\' + $Source)
                if ($null -ne $s) { $s.Close(); $in += $log }
            }
        } finally { $k.Close() }
    }
    $logKey = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($root + '\' + $LogName)
    $logExists = $null -ne $logKey
    if ($logExists) { $logKey.Close() }
    return @{ logName = $LogName; source = $Source; logExists = $logExists; registeredIn = $in
        values = (Get-KeySnapshot -SubKey ($root + '\' + $LogName + '\' + $Source)) }
}

function Remove-CustomLogKey {
    # The key of a custom log winfleet created and whose last source it removed: with the values the event
    # log service wrote in it and the log's own-named source (Set-EventSource decides; never a winfleet key).
    param([string]$SubKey)
    [Microsoft.Win32.Registry]::LocalMachine.DeleteSubKeyTree($SubKey, $false)
}

function Set-EventSource {
    # Make EventLog\<log>\<source> hold exactly $Values, or remove it ($Values $null). A log key this creates
    # (a new custom log) is recorded under HKLM\SOFTWARE\winfleet\EventLogs and removed, with what the event
    # log service wrote in it, by whichever removal leaves it without sources. Returns $true when changed.
    param([string]$LogName, [string]$Source, $Values)
    $logKey = 'SYSTEM\CurrentControlSet\Services\EventLog\' + $LogName
    $record = $LogName.ToLowerInvariant()
    $lock = Enter-WinfleetRegistryLock
    try {
        if ($null -ne $Values -and $null -eq (Get-KeySnapshot -SubKey $logKey)) {
            Set-WinfleetValue -Sub 'EventLogs' -Name $record -Data $LogName
        }
        $changed = Set-RegKeyExact -SubKey ($logKey + '\' + $Source) -Values $Values
        if ($null -eq $Values) {
            $rec = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\winfleet\EventLogs')
            $ours = $false
            if ($null -ne $rec) { try { $ours = $rec.GetValueNames() -contains $record } finally { $rec.Close() } }
            $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($logKey)
            $others = 0
            if ($null -ne $k) {
                # a subkey named like the log is the log's own source, not another program's
                try { $others = @($k.GetSubKeyNames() | Where-Object { $_ -ne $LogName }).Count } finally { $k.Close() }
            }
            if ($ours -and $others -eq 0) {
                if ($null -ne $k) {
                    Remove-CustomLogKey -SubKey $logKey
                    $changed = $true
                }
                $w = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\winfleet\EventLogs', $true)
                if ($null -ne $w) { try { $w.DeleteValue($record, $false) } finally { $w.Close() } }
                Remove-EmptyWinfleetKey -Sub 'EventLogs'
            }
        }
    } finally { Exit-WinfleetRegistryLock -Mutex $lock }
    return $changed
}
