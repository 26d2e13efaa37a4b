# The Windows workflow (job real-host): a WinRM HTTPS listener on the runner itself, for winfleet's real
# executor to reach over NTLM as a local administrator, exactly as it reaches a server.
# - a local user $UserName (password from $env:WINFLEET_CI_PASSWORD, never the command line) in Administrators;
# - LocalAccountTokenFilterPolicy = 1: without it a local administrator other than the built-in one gets a
#   filtered (non-admin) token over a network logon such as WinRM
#   (https://learn.microsoft.com/en-us/troubleshoot/windows-server/windows-security/user-account-control-and-remote-restriction);
# - a self-signed certificate for 'localhost' and an HTTPS listener using it; its PEM written to $CaPemOut,
#   which the stack gives as caPemFile (the client validates it; winfleet never skips validation).
param(
    [Parameter(Mandatory = $true)][string]$UserName,
    [Parameter(Mandatory = $true)][string]$CaPemOut
)
$ErrorActionPreference = 'Stop'

$password = $env:WINFLEET_CI_PASSWORD
if (-not $password) { throw 'WINFLEET_CI_PASSWORD is not set' }
$secure = ConvertTo-SecureString -String $password -AsPlainText -Force
if ($null -eq (Get-LocalUser -Name $UserName -ErrorAction SilentlyContinue)) {
    $null = New-LocalUser -Name $UserName -Password $secure -PasswordNeverExpires -AccountNeverExpires -Description 'winfleet CI'
}
$admins = @(Get-LocalGroupMember -SID 'S-1-5-32-544' | Where-Object { $_.Name -like "*\$UserName" })
if ($admins.Count -eq 0) { Add-LocalGroupMember -SID 'S-1-5-32-544' -Member $UserName }

$k = [Microsoft.Win32.Registry]::LocalMachine.CreateSubKey('SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System')
try { $k.SetValue('LocalAccountTokenFilterPolicy', 1, [Microsoft.Win32.RegistryValueKind]::DWord) } finally { $k.Close() }

Set-Service -Name WinRM -StartupType Automatic
Start-Service -Name WinRM

$cert = New-SelfSignedCertificate -DnsName 'localhost' -CertStoreLocation 'Cert:\LocalMachine\My' `
    -NotAfter (Get-Date).AddDays(2) -TextExtension @('2.5.29.19={critical}{text}ca=1&pathlength=0')
foreach ($l in @(Get-WSManInstance -ResourceURI 'winrm/config/listener' -Enumerate)) {
    if ($l.Transport -eq 'HTTPS') {
        Remove-WSManInstance -ResourceURI 'winrm/config/listener' -SelectorSet @{ Address = $l.Address; Transport = 'HTTPS' }
    }
}
$null = New-WSManInstance -ResourceURI 'winrm/config/listener' -SelectorSet @{ Address = '*'; Transport = 'HTTPS' } `
    -ValueSet @{ Hostname = 'localhost'; CertificateThumbprint = $cert.Thumbprint }

$b64 = [Convert]::ToBase64String($cert.RawData, [System.Base64FormattingOptions]::InsertLineBreaks)
$pem = "-----BEGIN CERTIFICATE-----`n" + $b64 + "`n-----END CERTIFICATE-----`n"
[System.IO.File]::WriteAllText($CaPemOut, $pem, (New-Object System.Text.UTF8Encoding -ArgumentList $false))
Write-Output ('WinRM HTTPS listener on localhost:5986, certificate ' + $cert.Thumbprint)
