# service.apply {"name", "steps": [{"do": verb, ...}], "binaryPath", "eventSource", "dirs",
#                "readiness": {"port","path","timeoutSeconds","pollSeconds"}|null, "startTimeoutSeconds",
#                "stopTimeoutSeconds", "onNotReady": [step...], "afterReady": [step...], "onStopped": [step...],
#                "requireAccepts": int|null}
#  -> {"changed": bool, "state": {<as service.read>, "steps": [{"do","changed"}], "readiness", "drain"}}
# Python (components/host/windows_service.py) decides and orders the steps; this script only
# performs them, in order, and stops at the first failure (Fail CODE message). Then the readiness
# gate: passed (or none) -> the "afterReady" steps (removing <exe>.previous); failed -> without
# "onNotReady" Fail NOT_READY; with it, run those steps (the rollback Python planned), gate again
# and Fail NOT_READY "...; rolled back to the previous version (...), which is ready again" or
# ROLLBACK_FAILED (a rollback step failed, or the previous version is not ready either).
# A step that fails once a step marked "armsRollback" (the binary swap) has run rolls back the same
# way: Fail <that step's code> "step <verb> failed after the binary swap: <code>: <message>; rolled
# back ..." or ROLLBACK_FAILED. A step failing after the first step marked "armsRestart" (the first stop)
# but before the swap runs the "onStopped" steps (start ours and the dependents it stopped) and fails
# <that step's code> "step <verb> failed after the service was stopped: ...; started it again (...)" or
# ROLLBACK_FAILED: a failure between the stop and the swap never leaves the service stopped.
# Stops wait "stopTimeoutSeconds" (the drain time, >= the pre-shutdown timeout), starts
# "startTimeoutSeconds". While our own service stops, the readiness URL is polled: "drain" =
# {notReadyBeforeExit: a non-200 answer while it was still stopping, probes} (null without readiness).
# After the gate, "requireAccepts" (SERVICE_ACCEPT_* bits, e.g. 0x100 PRESHUTDOWN) must be in the
# running service's dwControlsAccepted, or Fail PRESHUTDOWN_NOT_ACCEPTED (rolled back like the gate). Verbs:
#   download        System.Net.WebClient to <exe>.winfleet-download in the install directory (which
#                   exists: Python plans its mkdir first), SHA-256 check; a mismatch deletes that file and
#                   fails before anything else on the host changed. Never via %TEMP%: a file moved on one
#                   volume keeps its ACL, so NT SERVICE\<svc> could not read an exe from the admin's
#                   %TEMP%; created in the install directory, it inherits the account's ACE. Not
#                   Invoke-WebRequest: Module Logging records its -Uri (a signed URL).
#   create          CreateServiceW (P/Invoke below; SERVICE_WIN32_OWN_PROCESS, SERVICE_ERROR_NORMAL).
#   mkdir           Directory + explicit Allow ACE (by SID for NT SERVICE\<name>: S-1-5-80-<SHA-1 of the
#                   upper-case name>, so it works before the service exists).
#   stop/start/restart  ServiceController, bounded waits; a stop refuses while dependents run, waits out a
#                   pending start or stop (the SCM refuses controls then), and waits for the process to
#                   exit (its image stays locked until it has); a start waits out a pending stop.
#   stopOther/startOther  the same for a running dependent of ours (stopped first, started again last).
#   install_binary  old binary -> <path>.winfleet-old (or -> "previous", kept, when given), new -> path,
#                   old deleted unless kept (kept until then either way). "armsRollback": from now
#                   on a failing step runs the onNotReady steps too.
#   restore_binary  (rollback) delete path, move "previous" back to path.
#   config          ChangeServiceConfigW (SERVICE_NO_CHANGE / NULL for absent fields, never ""; password only when given).
#   description / delayed / sidType / preshutdown / failureFlag
#                   ChangeServiceConfig2W levels 1 / 3 / 5 / 7 / 4 (SERVICE_CONFIG_DESCRIPTION,
#                   _DELAYED_AUTO_START_INFO, _SERVICE_SID_INFO, _PRESHUTDOWN_INFO (ms; Windows
#                   default 10 s since build 15063), _FAILURE_ACTIONS_FLAG (the SCM then also runs the
#                   failure actions when the service stops with a non-zero exit code)).
#   failureActions  ChangeServiceConfig2W level 2 (SERVICE_CONFIG_FAILURE_ACTIONS): reset period (s) and
#                   SC_ACTION {Type, Delay ms} array; lpRebootMsg/lpCommand NULL (unchanged); no actions =
#                   cActions 0 with a non-NULL lpsaActions, which deletes them. A reboot action needs
#                   SE_SHUTDOWN_NAME enabled in our token (SERVICE_FAILURE_ACTIONSW doc), enabled first.
#   environment     HKLM\SYSTEM\CurrentControlSet\Services\<name>\Environment, REG_MULTI_SZ from a
#                   [string[]]; removed when empty (an empty value fails service start with error 87).
#   eventSource     HKLM\SYSTEM\CurrentControlSet\Services\EventLog\<log>\<source> set to exactly the
#                   given values, or removed when values is null; a log key it creates is recorded
#                   (HKLM\SOFTWARE\winfleet\EventLogs) and goes with its last source (Set-EventSource).
#   delete          stop, DeleteService, wait until the SCM has removed it (fails if still marked).
#   removeFile / removeDir (+ empty parents up to upTo) / revoke (explicit ACEs of an identity).
#   logonRight      {"account", "grant"}: LsaAddAccountRights / LsaRemoveAccountRights SeServiceLogonRight
#                   (domain users and gMSAs need it to start: error 1069 otherwise).
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
    // Optional strings are `object`: PowerShell passes $null to a .NET `string` parameter as "" (PowerShell
    // issue #4616; [NullString]::Value is the only way through), and "" is not NULL to the SCM: an empty
    // lpBinaryPathName/lpServiceStartName/lpDisplayName, or a password that must be NULL for a virtual or
    // managed account (learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-changeserviceconfigw).
    static string Opt(object s) { return s as string; }
    public static void Create(string name, string display, string path, uint start, string[] deps, string account, object password) {
        IntPtr scm = Manager();
        try {
            IntPtr h = CreateServiceW(scm, name, display, SERVICE_ALL_ACCESS, 0x10, start, 1, path, null,
                IntPtr.Zero, Block(deps), account, Opt(password));
            if (h == IntPtr.Zero) throw new Win32Exception(Marshal.GetLastWin32Error());
            CloseServiceHandle(h);
        } finally { CloseServiceHandle(scm); }
    }
    public static void Config(string name, uint start, object path, string[] deps, object account, object password, object display) {
        IntPtr scm = Manager();
        try {
            IntPtr h = Open(scm, name);
            try {
                if (!ChangeServiceConfigW(h, NO_CHANGE, start, NO_CHANGE, Opt(path), null, IntPtr.Zero, Block(deps), Opt(account), Opt(password), Opt(display)))
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
    // SERVICE_FAILURE_ACTIONSW (learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_failure_actionsw):
    // DWORD dwResetPeriod; LPWSTR lpRebootMsg; LPWSTR lpCommand; DWORD cActions; SC_ACTION *lpsaActions.
    // Sequential layout pads the DWORDs before the pointers on x64, as the C struct does.
    [StructLayout(LayoutKind.Sequential)]
    struct FailureActions { public uint ResetPeriod; public IntPtr RebootMsg; public IntPtr Command; public uint Count; public IntPtr Actions; }
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    struct OnePrivilege { public uint Count; public long Luid; public uint Attributes; }
    [DllImport("advapi32.dll", SetLastError = true)]
    static extern bool OpenProcessToken(IntPtr process, uint access, out IntPtr token);
    [DllImport("advapi32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    static extern bool LookupPrivilegeValueW(string system, string name, out long luid);
    [DllImport("advapi32.dll", SetLastError = true)]
    static extern bool AdjustTokenPrivileges(IntPtr token, bool disableAll, ref OnePrivilege state, uint len, IntPtr prev, IntPtr retLen);
    [DllImport("kernel32.dll")]
    static extern bool CloseHandle(IntPtr handle);
    static void EnableShutdownPrivilege() {
        IntPtr token;
        if (!OpenProcessToken(new IntPtr(-1), 0x28, out token)) throw new Win32Exception(Marshal.GetLastWin32Error());
        try {
            OnePrivilege p = new OnePrivilege();
            p.Count = 1; p.Attributes = 2;   // SE_PRIVILEGE_ENABLED
            if (!LookupPrivilegeValueW(null, "SeShutdownPrivilege", out p.Luid)) throw new Win32Exception(Marshal.GetLastWin32Error());
            bool ok = AdjustTokenPrivileges(token, false, ref p, 0, IntPtr.Zero, IntPtr.Zero);
            int err = Marshal.GetLastWin32Error();
            if (!ok || err == 1300) throw new Win32Exception(err);   // 1300 ERROR_NOT_ALL_ASSIGNED: not held
        } finally { CloseHandle(token); }
    }
    public static void SetFailureActions(string name, uint resetSeconds, int[] types, uint[] delaysMs) {
        if (Array.IndexOf(types, 2) >= 0) EnableShutdownPrivilege();   // SC_ACTION_REBOOT
        IntPtr actions = Marshal.AllocHGlobal(8 * Math.Max(1, types.Length));
        IntPtr info = Marshal.AllocHGlobal(Marshal.SizeOf(typeof(FailureActions)));
        try {
            for (int i = 0; i < types.Length; i++) {
                Marshal.WriteInt32(actions, 8 * i, types[i]);
                Marshal.WriteInt32(actions, 8 * i + 4, unchecked((int)delaysMs[i]));
            }
            FailureActions fa = new FailureActions();
            fa.ResetPeriod = resetSeconds; fa.RebootMsg = IntPtr.Zero; fa.Command = IntPtr.Zero;
            fa.Count = (uint)types.Length; fa.Actions = actions;
            Marshal.StructureToPtr(fa, info, false);
            Config2(name, 2, info);
        } finally { Marshal.FreeHGlobal(info); Marshal.FreeHGlobal(actions); }
    }
    public static void SetFailureFlag(string name, bool on) { Config2Dword(name, 4, on ? 1u : 0u); }
    public static void SetDelayed(string name, bool on) { Config2Dword(name, 3, on ? 1u : 0u); }
    public static void SetSidType(string name, uint sidType) { Config2Dword(name, 5, sidType); }
    public static void SetPreshutdown(string name, uint ms) { Config2Dword(name, 7, ms); }
    [StructLayout(LayoutKind.Sequential)]
    struct StatusProcess { public uint Type, State, Controls, Win32Exit, SpecificExit, CheckPoint, WaitHint, ProcessId, Flags; }
    [DllImport("advapi32.dll", SetLastError = true)]
    static extern bool QueryServiceStatusEx(IntPtr svc, int level, ref StatusProcess buffer, int size, out int needed);
    public static int ProcessId(string name) {
        // SERVICE_STATUS_PROCESS.dwProcessId (SC_STATUS_PROCESS_INFO = 0); 0 when the service is stopped
        IntPtr scm = Manager();
        try {
            IntPtr h = Open(scm, name);
            try {
                StatusProcess st = new StatusProcess();
                int needed;
                if (!QueryServiceStatusEx(h, 0, ref st, Marshal.SizeOf(typeof(StatusProcess)), out needed))
                    throw new Win32Exception(Marshal.GetLastWin32Error());
                return (int)st.ProcessId;
            } finally { CloseServiceHandle(h); }
        } finally { CloseServiceHandle(scm); }
    }
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

function Wait-ProcessExit {
    # SERVICE_STOPPED is reported by the service before its process exits (golang.org/x/sys/windows/svc:
    # Run returns after the final SetServiceStatus); until the process is gone its image stays mapped, and
    # moving or deleting the exe fails with ERROR_SHARING_VIOLATION. Wait for that process (by id).
    param([int]$ProcessId, [double]$Seconds, [string]$Name)
    if ($ProcessId -le 0) { return }
    try { $proc = [System.Diagnostics.Process]::GetProcessById($ProcessId) } catch [System.ArgumentException] { return }
    try {
        if (-not $proc.WaitForExit([int]($Seconds * 1000))) {
            Fail 'FILE_IN_USE' "$Name reported Stopped but its process $ProcessId did not exit within $Seconds s"
        }
    } finally { $proc.Dispose() }
}

function Get-UrlStatus {
    # The HTTP status of GET $Url, or $null when nothing answered (the request Wait-Ready makes).
    param([string]$Url)
    try { return [int](Invoke-WebRequest -Uri $Url -UseBasicParsing -TimeoutSec 5 -MaximumRedirection 0).StatusCode } catch {
        if ($null -ne $_.Exception.Response) { return [int]$_.Exception.Response.StatusCode }
        return $null
    }
}

function Wait-Drained {
    # Wait for Stopped (bounded) while polling readiness: did it answer non-200 before the service stopped?
    param($Svc, [double]$Seconds, $r)
    $url = 'http://localhost:' + [int]$r.port + [string]$r.path
    $deadline = (Get-Date).AddSeconds($Seconds)
    $notReady = $false
    $probes = 0
    while ($true) {
        $Svc.Refresh()
        if ($Svc.Status -eq 'Stopped') { break }
        if ((Get-Date) -gt $deadline) {
            Fail 'SERVICE_REQUEST_TIMEOUT' "$($Svc.ServiceName) did not reach Stopped within $Seconds s (status $($Svc.Status))"
        }
        $code = Get-UrlStatus -Url $url
        $Svc.Refresh()
        if ($Svc.Status -ne 'Stopped') {
            $probes++
            if ($null -ne $code -and $code -ne 200) { $notReady = $true }
        }
        Start-Sleep -Milliseconds 250
    }
    $ctx.drain = @{ notReadyBeforeExit = $notReady; probes = $probes }
}

function Stop-OurService {
    param([string]$Name, [double]$Seconds, $Readiness = $null)
    $s = Get-ExistingSvc -Name $Name
    # ControlService(STOP) on a START_PENDING or STOP_PENDING service fails with
    # ERROR_SERVICE_CANNOT_ACCEPT_CTRL 1061 (learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-controlservice):
    # let a pending start finish first, and a pending stop is waited for, not repeated.
    if ($s.Status -eq 'StartPending') { Wait-Status -Svc $s -Status 'Running' -Seconds $startTimeout }
    if ($s.Status -eq 'Stopped') { return $false }
    $procId = [WinfleetScm]::ProcessId($Name)
    if ($s.Status -ne 'StopPending') {
        $running = @($s.DependentServices | Where-Object { $_.Status -ne 'Stopped' } | ForEach-Object { $_.ServiceName })
        if ($running.Count -gt 0) {
            Fail 'DEPENDENT_SERVICES_RUNNING' "$Name has running dependents: $($running -join ', ')"
        }
        Invoke-Win32 "stop $Name" { $s.Stop() }
    }
    Send-WinfleetProgress -Step 'stop' -Message "stopping ${Name}: draining, up to $Seconds s"
    if ($null -ne $Readiness) { Wait-Drained -Svc $s -Seconds $Seconds -r $Readiness }
    else { Wait-Status -Svc $s -Status 'Stopped' -Seconds $Seconds }
    Wait-ProcessExit -ProcessId $procId -Seconds $Seconds -Name $Name
    return $true
}

function Start-OurService {
    param([string]$Name, [double]$Seconds)
    $s = Get-ExistingSvc -Name $Name
    # StartService on a STOP_PENDING service fails with ERROR_SERVICE_ALREADY_RUNNING 1056
    # (nf-winsvc-startservicew): let the stop finish, then start.
    if ($s.Status -eq 'StopPending') { Wait-Status -Svc $s -Status 'Stopped' -Seconds $stopTimeout }
    $changed = $false
    if ($s.Status -eq 'Stopped') {
        Invoke-Win32 "start $Name" { $s.Start() }
        $changed = $true
    }
    Wait-Status -Svc $s -Status 'Running' -Seconds $Seconds
    return $changed
}

$name = [string]$P.name
$startTimeout = 30.0
if ($P.startTimeoutSeconds) { $startTimeout = [double]$P.startTimeoutSeconds }
# A stop may take as long as the service drains (up to its pre-shutdown timeout): Python sends the bound.
$stopTimeout = $startTimeout
if ($P.stopTimeoutSeconds) { $stopTimeout = [double]$P.stopTimeoutSeconds }
$ctx = @{ tempFile = $null; step = $null; armed = $false; stopped = $false; drain = $null }

function Invoke-Step {
    # One step; returns $true when it changed the host.
    param($step)
    $verb = [string]$step.'do'
    $changed = $true
    switch ($verb) {
        'download' {
            [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
            $target = [string]$step.path
            if (-not (Test-Path -LiteralPath ([System.IO.Path]::GetDirectoryName($target)) -PathType Container)) {
                Fail 'PATH_NOT_FOUND' "the install directory of $target does not exist"
            }
            # permissions-on-copying-moving-files (learn.microsoft.com/troubleshoot/windows-client/windows-security):
            # a move within a volume keeps the file's ACL; a file created here inherits the directory's
            $ctx.tempFile = $target + '.winfleet-download'
            $web = New-Object System.Net.WebClient
            try { $web.DownloadFile([string]$step.url, $ctx.tempFile) } catch {
                Fail 'DOWNLOAD_FAILED' "download of the service binary failed: $($_.Exception.Message)"
            } finally { $web.Dispose() }
            $got = (Get-FileHash -LiteralPath $ctx.tempFile -Algorithm SHA256).Hash.ToLowerInvariant()
            $want = ([string]$step.sha256).ToLowerInvariant()
            if ($got -ne $want) {
                Remove-Item -LiteralPath $ctx.tempFile -Force
                $ctx.tempFile = $null
                Fail 'CHECKSUM_MISMATCH' "SHA-256 of the downloaded binary is $got, expected $want; nothing was changed"
            }
            $changed = $false
        }
        'create' {
            # A service of this name with exactly our ImagePath was created by an earlier run of this op whose
            # response was lost: nothing to do. Anything else still fails SERVICE_EXISTS below.
            $haveImage = $null
            $svcKey = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey("SYSTEM\CurrentControlSet\Services\$name")
            if ($null -ne $svcKey) {
                try { $haveImage = $svcKey.GetValue('ImagePath', $null, 'DoNotExpandEnvironmentNames') } finally { $svcKey.Close() }
            }
            if ($null -ne $haveImage -and [string]$haveImage -eq [string]$step.imagePath) { $changed = $false; continue }
            $deps = [string[]]@($step.dependencies | Where-Object { $_ })
            $pw = $null
            if ($null -ne $step.password) { $pw = [string]$step.password }
            Invoke-Win32 "create $name" { [WinfleetScm]::Create($name, [string]$step.displayName, [string]$step.imagePath, [uint32]$step.start, $deps, [string]$step.account, $pw) }
        }
        'mkdir' {
            # (never `$p`: PowerShell names are case-insensitive, it would be the params `$P`)
            $dirPath = [string]$step.path
            $changed = New-OwnedDirectory -Path $dirPath
            if ($step.grant) { Set-DirAce -Path $dirPath -Step $step; $changed = $true }
        }
        'stop' { $changed = Stop-OurService -Name $name -Seconds $stopTimeout -Readiness $P.readiness }
        'install_binary' {
            if ($null -eq $ctx.tempFile) { Fail 'HOST_ERROR' 'install_binary without a verified download in the same op' }
            $path = [string]$step.path
            $keep = [string]$step.previous        # set: the old binary stays there until the gate passed
            $old = $path + '.winfleet-old'
            if ($keep) { $old = $keep }
            $hadOld = Test-Path -LiteralPath $path -PathType Leaf
            # The verified build is already in place (an earlier run of this op whose response was lost
            # swapped it): nothing to move. With a rollback armed, only if that run's copy aside is there too.
            if ($hadOld -and (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash -eq (Get-FileHash -LiteralPath $ctx.tempFile -Algorithm SHA256).Hash -and
                (-not $keep -or (Test-Path -LiteralPath $keep -PathType Leaf))) {
                Remove-Item -LiteralPath $ctx.tempFile -Force
                $ctx.tempFile = $null
                $changed = $false
                continue
            }
            if ($hadOld) {
                if (Test-Path -LiteralPath $old) { Remove-Item -LiteralPath $old -Force }
                Invoke-Win32 "move aside $path" { [System.IO.File]::Move($path, $old) }
            }
            try { [System.IO.File]::Move($ctx.tempFile, $path) } catch {
                if ($hadOld) { [System.IO.File]::Move($old, $path) }
                Fail 'FILE_IN_USE' "could not put the new binary in place at ${path}: $($_.Exception.Message)"
            }
            $ctx.tempFile = $null
            if ($hadOld -and -not $keep) { Remove-Item -LiteralPath $old -Force }
        }
        'restore_binary' {
            # rollback: the new binary (stopped, so not locked) goes, <exe>.previous takes its place
            $path = [string]$step.path
            $prev = [string]$step.previous
            if (-not (Test-Path -LiteralPath $prev -PathType Leaf)) { Fail 'FILE_NOT_FOUND' "the previous binary $prev is gone; cannot put it back" }
            if (Test-Path -LiteralPath $path -PathType Leaf) { Remove-Item -LiteralPath $path -Force }
            Invoke-Win32 "put back $prev" { [System.IO.File]::Move($prev, $path) }
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
            $types = New-Object System.Collections.Generic.List[int]
            $delays = New-Object System.Collections.Generic.List[uint32]
            foreach ($a in @($step.actions)) {
                if ($null -eq $a) { continue }
                $types.Add([int]$a.type)
                $delays.Add([uint32]$a.delayMs)
            }
            Invoke-Win32 "set the failure actions of $name" { [WinfleetScm]::SetFailureActions($name, [uint32]$step.resetSeconds, $types.ToArray(), $delays.ToArray()) }
        }
        'environment' {
            # .NET, not New-ItemProperty: Module Logging (4103) records cmdlet parameters, and these are
            # the service's environment values
            $values = @($step.value | Where-Object { $null -ne $_ })
            $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SYSTEM\CurrentControlSet\Services\' + $name, $true)
            if ($null -eq $k) { Fail 'SERVICE_NOT_FOUND' "service $name does not exist" }
            try {
                if ($values.Count -gt 0) {
                    $k.SetValue('Environment', [string[]]$values, [Microsoft.Win32.RegistryValueKind]::MultiString)
                } else {
                    $changed = $k.GetValueNames() -contains 'Environment'
                    if ($changed) { $k.DeleteValue('Environment') }
                }
            } finally { $k.Close() }
        }
        'eventSource' {
            $changed = Set-EventSource -LogName ([string]$step.logName) -Source ([string]$step.source) -Values $step.values
        }
        'start' { $changed = Start-OurService -Name $name -Seconds $startTimeout }
        'restart' {
            $null = Stop-OurService -Name $name -Seconds $stopTimeout -Readiness $P.readiness
            $null = Start-OurService -Name $name -Seconds $startTimeout
        }
        'stopOther' {
            # a running dependent of our service (listed by service.read), stopped so ours can stop
            $o = Get-ExistingSvc -Name ([string]$step.name)
            $changed = Stop-OurService -Name $o.ServiceName -Seconds $stopTimeout
        }
        'startOther' { $changed = Start-OurService -Name ([string]$step.name) -Seconds $startTimeout }
        'delete' {
            $s = Get-Svc -Name $name
            if ($null -eq $s) { $changed = $false } else {
                $null = Stop-OurService -Name $name -Seconds $stopTimeout -Readiness $P.readiness
                Invoke-Win32 "delete $name" { [WinfleetScm]::Delete($name) }
                $deadline = (Get-Date).AddSeconds($startTimeout)
                while ($null -ne (Get-Svc -Name $name)) {
                    if ((Get-Date) -gt $deadline) { Fail 'SERVICE_MARKED_FOR_DELETE' "$name is marked for deletion but still exists" }
                    Start-Sleep -Milliseconds 200
                }
            }
        }
        'logonRight' {
            # SeServiceLogonRight for a domain user / gMSA (lib/service.ps1); grant=false on restore
            $who = [string]$step.account
            Initialize-WinfleetLsa
            $has = [bool](Invoke-Win32 "read the rights of $who" { [WinfleetLsa]::Held($who, 'SeServiceLogonRight') })
            $changed = ($has -ne [bool]$step.grant)
            if ($changed) { Invoke-Win32 "set SeServiceLogonRight of $who" { [WinfleetLsa]::Set($who, 'SeServiceLogonRight', [bool]$step.grant) } }
            # record that winfleet granted it (a grant we made) / forget it (revoked)
            if ($changed -or -not $step.grant) { Set-LogonRightMark -Account $who -Granted ([bool]$step.grant) }
        }
        'removeFile' {
            $filePath = [string]$step.path
            $changed = Test-Path -LiteralPath $filePath -PathType Leaf
            if ($changed) { Remove-Item -LiteralPath $filePath -Force }
        }
        'removeDir' { $changed = Remove-DirUpTo -Path ([string]$step.path) -UpTo ([string]$step.upTo) }
        'writeSecrets' { Write-SecretsFile -Step $step }
        'revoke' { $changed = Revoke-DirAce -Path ([string]$step.path) -Step $step }
        default { Fail 'BAD_PARAMS' "unknown step $verb" }
    }
    return [bool]$changed
}

function Invoke-Steps {
    # Run $Steps in order, appending @{do; changed} to the list $Done; stops at the first failure.
    # $ctx.step is the step running; $ctx.armed turns on once a step marked "armsRollback" ran.
    param($Steps, [System.Collections.ArrayList]$Done)
    foreach ($step in @($Steps)) {
        if ($null -eq $step) { continue }
        $ctx.step = [string]$step.'do'
        if ($step.armsRestart) { $ctx.stopped = $true }   # armed before the stop runs: a start is harmless
        $changed = @(Invoke-Step -step $step)[-1]
        $null = $Done.Add(@{ 'do' = [string]$step.'do'; changed = [bool]$changed })
        if ($step.armsRollback) { $ctx.armed = $true }
    }
}

function Get-FailCode {
    # The op code of a caught error: what Fail set, else UNHANDLED.
    param($Err)
    $data = $Err.Exception.Data
    if ($null -ne $data -and $data.Contains('WinfleetCode')) { return [string]$data['WinfleetCode'] }
    return 'UNHANDLED'
}

function Wait-Ready {
    # Poll http://localhost:<port><path> until 200 or the bound: @{ ready; attempts; status; message }.
    param($r)
    $url = 'http://localhost:' + [int]$r.port + [string]$r.path
    $startedAt = Get-Date
    $deadline = $startedAt.AddSeconds([double]$r.timeoutSeconds)
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
        $seen = 'no response'
        if ($null -ne $status) { $seen = "HTTP $status" }
        $waited = [int][math]::Round(((Get-Date) - $startedAt).TotalSeconds)
        Send-WinfleetProgress -Step 'readiness' -Message "waiting for readiness $waited/$($r.timeoutSeconds) s (attempt ${attempts}: $seen)"
        if ($status -eq 200) { return @{ ready = $true; attempts = $attempts; status = 200 } }
        if ((Get-Date).AddSeconds([double]$r.pollSeconds) -gt $deadline) {
            if ($body.Length -gt 200) { $body = $body.Substring(0, 200) }
            $last = "HTTP $status"
            if ($null -eq $status) { $last = 'no response' }
            return @{ ready = $false; attempts = $attempts; status = $status
                message = "$url did not answer 200 within $($r.timeoutSeconds)s ($attempts attempts); last: $last $body" }
        }
        Start-Sleep -Milliseconds ([int]([double]$r.pollSeconds * 1000))
    }
}

function Invoke-Rollback {
    # The gate (or a step after the binary swap) failed: run the onNotReady steps Python planned (stop,
    # put the previous binary back, restore the settings this apply changed, start), gate the previous
    # version, and fail either way: $Code (NOT_READY, or the failed step's code) "... rolled back ..."
    # or ROLLBACK_FAILED.
    param([string]$Failed, $Steps, [string]$Code = 'NOT_READY')
    $undone = New-Object System.Collections.ArrayList
    try { Invoke-Steps -Steps $Steps -Done $undone } catch {
        $rollbackCode = Get-FailCode -Err $_   # not $code: that is the parameter $Code (names ignore case)
        Fail 'ROLLBACK_FAILED' "$Failed; ROLLBACK FAILED after $($undone.Count) of $(@($Steps).Count) steps: ${rollbackCode}: $($_.Exception.Message); the host is left between the new and the previous version"
    }
    $verbs = @($undone | ForEach-Object { $_['do'] }) -join ', '
    $again = Wait-Ready -r $P.readiness
    if (-not $again.ready) {
        Fail 'ROLLBACK_FAILED' "$Failed; rolled back to the previous version ($verbs) but it did not become ready either: $($again.message)"
    }
    Fail $Code "$Failed; rolled back to the previous version ($verbs), which is ready again"
}

function Invoke-StartAgain {
    # A step failed after the first stop, before the swap (or after it, with no rollback planned): start
    # the service (and the dependents we stopped) again, and fail either way.
    param([string]$Failed, $Steps, [string]$Code)
    $undone = New-Object System.Collections.ArrayList
    try { Invoke-Steps -Steps $Steps -Done $undone } catch {
        $again = Get-FailCode -Err $_
        Fail 'ROLLBACK_FAILED' "$Failed; could not start it again after $($undone.Count) of $(@($Steps).Count) steps: ${again}: $($_.Exception.Message)"
    }
    $verbs = @($undone | ForEach-Object { $_['do'] }) -join ', '
    Fail $Code "$Failed; started it again ($verbs)"
}

$done = New-Object System.Collections.ArrayList
$readiness = $null
$undo = @($P.onNotReady | Where-Object { $null -ne $_ })
$startAgain = @($P.onStopped | Where-Object { $null -ne $_ })
try {
    try { Invoke-Steps -Steps $P.steps -Done $done } catch {
        $code = Get-FailCode -Err $_
        if ($ctx.armed -and $undo.Count -gt 0) {
            Invoke-Rollback -Failed "step $($ctx.step) failed after the binary swap: ${code}: $($_.Exception.Message)" -Steps $undo -Code $code
        }
        if ($ctx.stopped -and $startAgain.Count -gt 0) {
            Invoke-StartAgain -Failed "step $($ctx.step) failed after the service was stopped: ${code}: $($_.Exception.Message)" -Steps $startAgain -Code $code
        }
        throw
    }
    if ($null -ne $P.readiness) {
        $readiness = Wait-Ready -r $P.readiness
        if (-not $readiness.ready) {
            if ($undo.Count -gt 0) { Invoke-Rollback -Failed $readiness.message -Steps $undo }
            Fail 'NOT_READY' $readiness.message
        }
    }
    if ($P.requireAccepts) {
        $need = [int]$P.requireAccepts
        $now = Get-Svc -Name $name
        if ($null -ne $now -and $now.Status -eq 'Running') {
            $got = Get-ControlsAccepted -Name $name
            if (($got -band $need) -ne $need) {
                $why = "$name does not accept the controls 0x$($need.ToString('x')) (QueryServiceStatusEx dwControlsAccepted 0x$($got.ToString('x'))): with a pre-shutdown timeout the program must accept SERVICE_CONTROL_PRESHUTDOWN (Go: svc.AcceptPreShutdown in svc.Status.Accepts, handled like svc.Stop); or set preshutdownCheck: warn"
                if ($undo.Count -gt 0) { Invoke-Rollback -Failed $why -Steps $undo -Code 'PRESHUTDOWN_NOT_ACCEPTED' }
                Fail 'PRESHUTDOWN_NOT_ACCEPTED' $why
            }
        }
    }
    Invoke-Steps -Steps $P.afterReady -Done $done
} finally {
    if ($null -ne $ctx.tempFile -and (Test-Path -LiteralPath $ctx.tempFile)) { Remove-Item -LiteralPath $ctx.tempFile -Force }
}

$state = Read-ServiceState -P $P
$state['steps'] = @($done)
$state['readiness'] = $readiness
$state['drain'] = $ctx.drain
$anyChange = @($done | Where-Object { $_.changed }).Count -gt 0
@{ changed = $anyChange; state = $state }
