# Pester 5 tests of scripts/ops/service.read.ps1 and service.apply.ps1 on a real Windows host.
# Safe on a throwaway CI VM: the only service created is 'WfPester<random>' (a tiny C# service compiled
# here, running as LocalSystem, answering http://localhost:<port>/readyz), under a temp folder; it is
# removed at the end. No existing service is changed. Changing steps need an elevated runner.

BeforeDiscovery { . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1'); $Elevated = Test-IsElevated }

BeforeAll {
    . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1')
    $script:Name = 'WfPester' + (Get-Random -Minimum 1000 -Maximum 9999)
    $script:Port = Get-Random -Minimum 20000 -Maximum 29999
    $root = $env:RUNNER_TEMP
    if (-not $root) { $root = [System.IO.Path]::GetTempPath() }
    $script:Work = Join-Path $root ($script:Name + ' dir')          # a space on purpose: quoting
    $script:InstallDir = Join-Path $script:Work 'install'
    $script:Exe = Join-Path $script:InstallDir ($script:Name + '.exe')
    $null = New-Item -ItemType Directory -Path $script:Work -Force
    $source = @'
using System;
using System.Net;
using System.ServiceProcess;
using System.Threading;
public class WfPesterService : ServiceBase {
    HttpListener listener;
    public static void Main(string[] args) { ServiceBase.Run(new WfPesterService()); }
    protected override void OnStart(string[] args) {
        listener = new HttpListener();
        listener.Prefixes.Add("http://localhost:" + Environment.GetEnvironmentVariable("WF_PORT") + "/");
        listener.Start();
        Thread t = new Thread(Serve);
        t.IsBackground = true;
        t.Start();
    }
    void Serve() {
        while (listener.IsListening) {
            try {
                HttpListenerContext c = listener.GetContext();
                byte[] body = System.Text.Encoding.UTF8.GetBytes("ok");
                c.Response.StatusCode = 200;
                c.Response.OutputStream.Write(body, 0, body.Length);
                c.Response.Close();
            } catch (Exception) { }
        }
    }
    protected override void OnStop() { listener.Stop(); }
}
'@
    $script:Built = Join-Path $script:Work 'build.exe'
    Add-Type -TypeDefinition $source -OutputAssembly $script:Built -OutputType ConsoleApplication -ReferencedAssemblies 'System.ServiceProcess'
    $script:Url = ([System.Uri]$script:Built).AbsoluteUri                      # file:///... (Windows PowerShell 5.1)
    $script:Sha = (Get-FileHash -LiteralPath $script:Built -Algorithm SHA256).Hash.ToLowerInvariant()
    # a "new release" that runs but never becomes ready (503), for the rollback test
    $bad = $source.Replace('StatusCode = 200', 'StatusCode = 503').Replace('WfPesterService', 'WfPesterBadService')
    $script:BadBuilt = Join-Path $script:Work 'build-bad.exe'
    Add-Type -TypeDefinition $bad -OutputAssembly $script:BadBuilt -OutputType ConsoleApplication -ReferencedAssemblies 'System.ServiceProcess'
    $script:BadUrl = ([System.Uri]$script:BadBuilt).AbsoluteUri
    $script:BadSha = (Get-FileHash -LiteralPath $script:BadBuilt -Algorithm SHA256).Hash.ToLowerInvariant()
    # a "new release" whose process exits at once, before it reports SERVICE_RUNNING: the start fails
    $main = 'public static void Main(string[] args) { ServiceBase.Run(new WfPesterService()); }'
    if (-not $source.Contains($main)) { throw 'the test service source changed: update the crashing build' }
    $crash = $source.Replace($main, 'public static void Main(string[] args) { Environment.Exit(3); }').Replace('WfPesterService', 'WfPesterCrashService')
    $script:CrashBuilt = Join-Path $script:Work 'build-crash.exe'
    Add-Type -TypeDefinition $crash -OutputAssembly $script:CrashBuilt -OutputType ConsoleApplication -ReferencedAssemblies 'System.ServiceProcess'
    $script:CrashUrl = ([System.Uri]$script:CrashBuilt).AbsoluteUri
    $script:CrashSha = (Get-FileHash -LiteralPath $script:CrashBuilt -Algorithm SHA256).Hash.ToLowerInvariant()
    $script:Hostile = "quote "" apostrophe ' `$(Get-Date) ; back``tick`r`nnew line ünïcödé"

    function script:Invoke-Release {
        # service.apply of a new build the way WindowsService plans an update with a rollback: the old
        # binary kept as <exe>.previous, put back by onNotReady (after a failed gate or, the swap arming
        # it, a failed step), removed by afterReady.
        param([string]$Url, [string]$Sha, [double]$Timeout, [double]$StartTimeout = 60)
        $prev = $script:Exe + '.previous'
        Invoke-Driver -Op 'service.apply' -Params @{ name = $script:Name; binaryPath = $script:Exe; dirs = @()
            startTimeoutSeconds = $StartTimeout; stopTimeoutSeconds = 90
            steps = @(@{ 'do' = 'download'; url = $Url; sha256 = $Sha; path = $script:Exe }, @{ 'do' = 'stop' },
                @{ 'do' = 'install_binary'; path = $script:Exe; previous = $prev; armsRollback = $true }, @{ 'do' = 'start' })
            readiness = @{ port = $script:Port; path = '/readyz'; timeoutSeconds = $Timeout; pollSeconds = 0.5 }
            onNotReady = @(@{ 'do' = 'stop' }, @{ 'do' = 'restore_binary'; path = $script:Exe; previous = $prev }, @{ 'do' = 'start' })
            afterReady = @(@{ 'do' = 'removeFile'; path = $prev }) }
    }

    function script:Get-ReleaseFailure {
        # Run a release that must fail: the driver's exception carrying WinfleetCode (or $null).
        param([scriptblock]$Release)
        try { $null = & $Release } catch {
            $ex = $_.Exception
            while ($null -ne $ex -and -not ($null -ne $ex.Data -and $ex.Data.Contains('WinfleetCode'))) { $ex = $ex.InnerException }
            return $ex
        }
        return $null
    }

    function script:Assert-RolledBack {
        # The release failed, was rolled back, and the previous build runs again with no .previous left.
        param($Failure)
        $Failure.Message | Should -Match 'rolled back to the previous version \(stop, restore_binary, start\), which is ready again'
        $r = Read-Svc
        $r.state.binary.sha256 | Should -Be $script:Sha
        # the exe inherited the install directory's entry for the account (it was never moved in from %TEMP%)
        @((Get-Acl -LiteralPath $script:Exe).Access | Where-Object { $_.IsInherited -and $_.IdentityReference.Value -match 'NETWORK SERVICE' }).Count | Should -BeGreaterThan 0
        $r.state.service.status | Should -Be 'Running'
        Test-Path -LiteralPath ($script:Exe + '.previous') | Should -BeFalse
    }

    function script:Read-Svc {
        Invoke-Driver -Op 'service.read' -Params @{ name = $script:Name; binaryPath = $script:Exe
            eventSource = @{ logName = 'Application'; source = $script:Name }; dirs = @($script:InstallDir) }
    }
}

AfterAll {
    $s = Get-CimInstance -ClassName Win32_Service -Filter ("Name='" + $script:Name + "'")
    if ($null -ne $s) {
        if ($s.State -ne 'Stopped') { $null = Invoke-CimMethod -InputObject $s -MethodName StopService; Start-Sleep -Seconds 2 }
        $null = Invoke-CimMethod -InputObject $s -MethodName Delete
    }
    $src = 'HKLM:\SYSTEM\CurrentControlSet\Services\EventLog\Application\' + $script:Name
    if (Test-Path -LiteralPath $src) { Remove-Item -LiteralPath $src -Recurse -Force }
    Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'service.read' {
    It 'reads a built-in service from the registry and the SCM, by service name' {
        $r = Invoke-Driver -Op 'service.read' -Params @{ name = 'eventlog'; dirs = @() }
        $r.changed | Should -BeFalse
        $r.state.exists | Should -BeTrue
        $r.state.service.name | Should -Be 'EventLog'
        $r.state.service.status | Should -Be 'Running'
        $r.state.service.start | Should -Be 2
        # QueryServiceStatusEx dwControlsAccepted: EventLog accepts SERVICE_CONTROL_SHUTDOWN (0x4)
        ([int]$r.state.service.controlsAccepted -band 4) | Should -Be 4
    }

    It 'never matches a display name, and hostile names are just names' {
        foreach ($n in @('Windows Event Log', "x'; Stop-Computer -WhatIf; '", '$(Get-Date)', 'Event*')) {
            $r = Invoke-Driver -Op 'service.read' -Params @{ name = $n; dirs = @() }
            $r.state.exists | Should -BeFalse
        }
    }
}

Describe 'service.apply' -Skip:(-not $Elevated) {
    It 'writes the secrets file with exactly SYSTEM, Administrators and the account on a protected DACL' {
        $file = Join-Path $script:Work 'secrets.json'
        $content = '{"DB_PASSWORD":"p\u00e4ss \"q\"","TOKEN":"t"}'
        $readers = @(@{ identity = 'NT AUTHORITY\SYSTEM'; sid = 'S-1-5-18'; rights = 'FullControl' },
            @{ identity = 'BUILTIN\Administrators'; sid = 'S-1-5-32-544'; rights = 'FullControl' },
            @{ identity = 'NT AUTHORITY\LocalService'; sid = 'S-1-5-19'; rights = 'Read' })
        foreach ($round in 1, 2) {          # the second write replaces the first
            $null = Invoke-Driver -Op 'service.apply' -Params @{ name = $script:Name; readiness = $null
                steps = @(@{ 'do' = 'writeSecrets'; path = $file; content = $content; names = @('DB_PASSWORD', 'TOKEN'); readers = $readers }) }
        }
        [System.IO.File]::ReadAllText($file) | Should -Be $content
        $acl = Get-Acl -LiteralPath $file
        $acl.AreAccessRulesProtected | Should -BeTrue
        $rules = @($acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier]))
        ($rules | ForEach-Object { $_.IdentityReference.Value } | Sort-Object) -join ',' | Should -Be 'S-1-5-18,S-1-5-19,S-1-5-32-544'
        @($rules | Where-Object { $_.IsInherited }).Count | Should -Be 0
        $nonce = '00112233445566778899aabbccddeeff'
        $r = Invoke-Driver -Op 'service.read' -Params @{ name = $script:Name; dirs = @(); secretsFile = @{ path = $file; nonce = $nonce } }
        $r.state.secretsFile.protected | Should -BeTrue
        $key = [byte[]]@(for ($k = 0; $k -lt $nonce.Length; $k += 2) { [Convert]::ToByte($nonce.Substring($k, 2), 16) })
        $mac = New-Object System.Security.Cryptography.HMACSHA256 (, $key)
        $want = (($mac.ComputeHash([System.Text.Encoding]::UTF8.GetBytes($content)) | ForEach-Object { $_.ToString('x2') }) -join '')
        $r.state.secretsFile.hmac | Should -Be $want
        Remove-Item -LiteralPath $file -Force
    }

    It 'refuses a binary whose SHA-256 does not match, before changing anything' {
        $code = Get-DriverErrorCode { Invoke-Driver -Op 'service.apply' -Params @{ name = $script:Name
                steps = @(@{ 'do' = 'mkdir'; path = $script:InstallDir }, @{ 'do' = 'download'; url = $script:Url; sha256 = ('0' * 64); path = $script:Exe }, @{ 'do' = 'create'; displayName = 'x'; imagePath = 'x'; start = 3; account = 'LocalSystem' }) } }
        $code | Should -Be 'CHECKSUM_MISMATCH'
        (Read-Svc).state.exists | Should -BeFalse
    }

    It 'creates, configures, starts and passes the readiness gate' {
        $image = '"' + $script:Exe + '" -flag "two words"'
        # the install directory first: the download lands there (issue 11 item 3), inheriting its ACL
        $steps = @(
            @{ 'do' = 'mkdir'; path = $script:InstallDir; grant = 'NT AUTHORITY\NETWORK SERVICE'; rights = 'ReadAndExecute' },
            @{ 'do' = 'download'; url = $script:Url; sha256 = $script:Sha; path = $script:Exe },
            @{ 'do' = 'create'; displayName = ($script:Name + ' display'); imagePath = $image; start = 3; dependencies = @('EventLog'); account = 'LocalSystem' },
            @{ 'do' = 'install_binary'; path = $script:Exe },
            @{ 'do' = 'description'; value = $script:Hostile },
            @{ 'do' = 'sidType'; value = 1 },
            @{ 'do' = 'failureActions'; resetSeconds = 86400; actions = @(@{ type = 1; delayMs = 5000 }, @{ type = 0; delayMs = 0 }, @{ type = 1; delayMs = 30000 }) },
            @{ 'do' = 'failureFlag'; value = $true },
            @{ 'do' = 'preshutdown'; ms = 45000 },
            @{ 'do' = 'environment'; value = @('GOTRACEBACK=wer', ('WF_PORT=' + $script:Port), ('HOSTILE=' + $script:Hostile)) },
            @{ 'do' = 'eventSource'; logName = 'Application'; source = $script:Name; values = @{
                    CustomSource = @{ kind = 'REG_DWORD'; data = 1 }; EventMessageFile = @{ kind = 'REG_EXPAND_SZ'; data = '%SystemRoot%\System32\EventCreate.exe' }
                    TypesSupported = @{ kind = 'REG_DWORD'; data = 7 } } },
            @{ 'do' = 'start' }
        )
        $r = Invoke-Driver -Op 'service.apply' -Params @{ name = $script:Name; steps = $steps; binaryPath = $script:Exe
            eventSource = @{ logName = 'Application'; source = $script:Name }; dirs = @($script:InstallDir); startTimeoutSeconds = 60
            readiness = @{ port = $script:Port; path = '/readyz'; timeoutSeconds = 30; pollSeconds = 0.5 } }
        $r.changed | Should -BeTrue
        $r.state.readiness.ready | Should -BeTrue
        $s = $r.state.service
        $s.status | Should -Be 'Running'
        $s.imagePath | Should -Be $image
        $s.description | Should -Be $script:Hostile
        $s.sidType | Should -Be 1
        $s.failureActionsOnNonCrashFailures | Should -BeTrue
        $s.preshutdownTimeoutMs | Should -Be 45000
        @($s.dependencies) | Should -Be @('EventLog')
        @($s.environment) | Should -Contain ('HOSTILE=' + $script:Hostile)
        $s.failureActions.Substring(0, 8) | Should -Be '80510100'                # reset period 86400, little-endian
        $s.failureActions.Substring(24, 8) | Should -Be '03000000'               # cActions 3, the 'none' one included
        $s.failureActions | Should -Match '0100000088130000(0000000000000000)0100000030750000'   # restart 5 s, none, restart 30 s
        $r.state.binary.sha256 | Should -Be $script:Sha
        $r.state.eventSource.values.EventMessageFile.kind | Should -Be 'REG_EXPAND_SZ'
    }

    It 'refuses a running program that does not accept PreShutdown when asked to (requireAccepts)' {
        # the test service is a .NET ServiceBase: it accepts Stop, not SERVICE_ACCEPT_PRESHUTDOWN (0x100)
        $code = Get-DriverErrorCode { Invoke-Driver -Op 'service.apply' -Params @{ name = $script:Name; steps = @(@{ 'do' = 'start' }); dirs = @()
                requireAccepts = 256; readiness = @{ port = $script:Port; path = '/readyz'; timeoutSeconds = 30; pollSeconds = 0.5 } } }
        $code | Should -Be 'PRESHUTDOWN_NOT_ACCEPTED'
        ([int](Read-Svc).state.service.controlsAccepted -band 1) | Should -Be 1      # SERVICE_ACCEPT_STOP
    }

    It 'is idempotent for the idempotent steps' {
        $r = Invoke-Driver -Op 'service.apply' -Params @{ name = $script:Name; steps = @(@{ 'do' = 'start' }, @{ 'do' = 'eventSource'; logName = 'Application'; source = $script:Name; values = @{
                        CustomSource = @{ kind = 'REG_DWORD'; data = 1 }; EventMessageFile = @{ kind = 'REG_EXPAND_SZ'; data = '%SystemRoot%\System32\EventCreate.exe' }
                        TypesSupported = @{ kind = 'REG_DWORD'; data = 7 } } }); dirs = @() }
        $r.changed | Should -BeFalse
    }

    It 'keeps the previous binary until the gate passed, then removes it (afterReady)' {
        $r = Invoke-Release -Url $script:Url -Sha $script:Sha -Timeout 30
        $r.state.readiness.ready | Should -BeTrue
        @($r.state.steps | ForEach-Object { $_.'do' }) | Should -Be @('download', 'stop', 'install_binary', 'start', 'removeFile')
        Test-Path -LiteralPath ($script:Exe + '.previous') | Should -BeFalse
        $r.state.service.status | Should -Be 'Running'
    }

    It 'rolls a build that never becomes ready back to the previous binary (onNotReady) and fails NOT_READY' {
        $failure = Get-ReleaseFailure { Invoke-Release -Url $script:BadUrl -Sha $script:BadSha -Timeout 5 }
        $failure | Should -Not -BeNullOrEmpty
        $failure.Data['WinfleetCode'] | Should -Be 'NOT_READY'
        $failure.Message | Should -Match 'HTTP 503'
        Assert-RolledBack -Failure $failure
    }

    It 'rolls a build that fails to start (its process exits at once) back to the previous binary' {
        $failure = Get-ReleaseFailure { Invoke-Release -Url $script:CrashUrl -Sha $script:CrashSha -Timeout 30 -StartTimeout 20 }
        $failure | Should -Not -BeNullOrEmpty
        $failure.Data['WinfleetCode'] | Should -Not -Be 'ROLLBACK_FAILED'
        $failure.Message | Should -Match 'step start failed after the binary swap: '
        Assert-RolledBack -Failure $failure
    }

    It 'reports a leftover <exe>.previous (service.read leftoverPrevious)' {
        $prev = $script:Exe + '.previous'
        Copy-Item -LiteralPath $script:Exe -Destination $prev
        try {
            $r = Invoke-Driver -Op 'service.read' -Params @{ name = $script:Name; binaryPath = $script:Exe; previousPath = $prev; dirs = @() }
            $r.state.leftoverPrevious | Should -Be $prev
        } finally { Remove-Item -LiteralPath $prev -Force -ErrorAction SilentlyContinue }
        $r = Invoke-Driver -Op 'service.read' -Params @{ name = $script:Name; binaryPath = $script:Exe; previousPath = $prev; dirs = @() }
        $r.state.leftoverPrevious | Should -BeNullOrEmpty
    }

    It 'fails a readiness gate that never answers 200 with the last status' {
        $code = Get-DriverErrorCode { Invoke-Driver -Op 'service.apply' -Params @{ name = $script:Name; steps = @(); dirs = @()
                readiness = @{ port = $script:Port; path = '/readyz'; timeoutSeconds = 1; pollSeconds = 0.2 } } }
        $code | Should -Be 'NO_ERROR'                                             # it does answer
        $code = Get-DriverErrorCode { Invoke-Driver -Op 'service.apply' -Params @{ name = $script:Name; steps = @(); dirs = @()
                readiness = @{ port = ($script:Port + 1); path = '/readyz'; timeoutSeconds = 1; pollSeconds = 0.2 } } }
        $code | Should -Be 'NOT_READY'
    }

    It 'deletes the service and restores what it created' {
        $r = Invoke-Driver -Op 'service.apply' -Params @{ name = $script:Name; binaryPath = $script:Exe; dirs = @($script:InstallDir)
            eventSource = @{ logName = 'Application'; source = $script:Name }; startTimeoutSeconds = 60
            steps = @(@{ 'do' = 'delete' }, @{ 'do' = 'eventSource'; logName = 'Application'; source = $script:Name; values = $null },
                @{ 'do' = 'removeFile'; path = $script:Exe }, @{ 'do' = 'removeDir'; path = $script:InstallDir; upTo = $script:InstallDir }) }
        $r.state.exists | Should -BeFalse
        $r.state.eventSource.values | Should -BeNullOrEmpty
        $r.state.binary.exists | Should -BeFalse
        Test-Path -LiteralPath $script:InstallDir | Should -BeFalse
    }
}
