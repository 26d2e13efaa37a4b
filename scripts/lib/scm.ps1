# winfleet library (scripts/lib/scm.ps1): the Service Control Manager as the service and baseline ops
# use it: services found by exact service name (never display name), Win32 errors turned into op
# error codes. Callers load System.ServiceProcess (Add-Type) themselves. Functions only.

function ConvertTo-OpCode {
    # The op error code of a Win32 error number (the codes the service and baseline ops report).
    param([int]$Win32)
    $codes = @{ 2 = 'FILE_NOT_FOUND'; 5 = 'ACCESS_DENIED'; 32 = 'FILE_IN_USE'; 87 = 'INVALID_PARAMETER'
        1051 = 'DEPENDENT_SERVICES_RUNNING'; 1052 = 'INVALID_SERVICE_CONTROL'; 1053 = 'SERVICE_REQUEST_TIMEOUT'
        1056 = 'SERVICE_ALREADY_RUNNING'; 1057 = 'INVALID_SERVICE_ACCOUNT'; 1058 = 'SERVICE_DISABLED'
        1059 = 'CIRCULAR_DEPENDENCY'; 1060 = 'SERVICE_NOT_FOUND'; 1061 = 'SERVICE_CANNOT_ACCEPT_CTRL'; 1062 = 'SERVICE_NOT_ACTIVE'
        1068 = 'SERVICE_DEPENDENCY_FAIL'; 1069 = 'SERVICE_LOGON_FAILED'; 1072 = 'SERVICE_MARKED_FOR_DELETE'
        1073 = 'SERVICE_EXISTS'; 1075 = 'SERVICE_DEPENDENCY_DELETED'; 1078 = 'DUPLICATE_SERVICE_NAME' }
    if ($codes.ContainsKey($Win32)) { return $codes[$Win32] }
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

function Get-Svc {
    param([string]$Name)
    foreach ($s in [System.ServiceProcess.ServiceController]::GetServices()) {
        if ($s.ServiceName -eq $Name) { return $s }
    }
    return $null
}
