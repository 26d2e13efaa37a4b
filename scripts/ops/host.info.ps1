# host.info {"echo": any} -> {"changed": false, "state": {hostName, osVersion, psVersion, user, echo}}
# A read-only smoke-test op; "echo" is returned unchanged (used to test payload transport).
param($P)
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$echo = $null
if ($null -ne $P) { $echo = $P.echo }
@{
    changed = $false
    state   = @{
        hostName  = $env:COMPUTERNAME
        osCaption = $os.Caption
        osVersion = $os.Version
        psVersion = $PSVersionTable.PSVersion.ToString()
        user      = [Environment]::UserName
        echo      = $echo
    }
}
