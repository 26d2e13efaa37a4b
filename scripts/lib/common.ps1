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

function Get-JournalPath {
    'HKLM:\SOFTWARE\winfleet\Journal'
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

function Set-RegistryValue {
    # Kind: String, ExpandString, MultiString, DWord, QWord, Binary (New-ItemProperty -PropertyType).
    param(
        [Parameter(Mandatory = $true)][string]$Path,
        [Parameter(Mandatory = $true)][string]$Name,
        [Parameter(Mandatory = $true)][string]$Kind,
        [Parameter(Mandatory = $true)][AllowEmptyString()][AllowEmptyCollection()]$Value
    )
    if (-not (Test-Path -LiteralPath $Path)) { $null = New-Item -Path $Path -Force }
    $null = New-ItemProperty -LiteralPath $Path -Name $Name -PropertyType $Kind -Value $Value -Force
}

function Remove-RegistryValue {
    # Returns $true when a value was removed.
    param(
        [Parameter(Mandatory = $true)][string]$Path,
        [Parameter(Mandatory = $true)][string]$Name
    )
    if (-not (Test-Path -LiteralPath $Path)) { return $false }
    $key = Get-Item -LiteralPath $Path
    if ($key.GetValueNames() -notcontains $Name) { return $false }
    Remove-ItemProperty -LiteralPath $Path -Name $Name
    return $true
}

function Write-Journal {
    # One REG_SZ value per journal key, holding JSON.
    param(
        [Parameter(Mandatory = $true)][string]$Key,
        [Parameter(Mandatory = $true)][string]$Json
    )
    Set-RegistryValue -Path (Get-JournalPath) -Name $Key -Kind 'String' -Value $Json
}

function Clear-Journal {
    param([Parameter(Mandatory = $true)][string]$Key)
    $null = Remove-RegistryValue -Path (Get-JournalPath) -Name $Key
}

function Read-Journal {
    # Hashtable key -> parsed JSON value; $Keys = $null means every entry.
    param([string[]]$Keys = $null)
    $entries = @{}
    $path = Get-JournalPath
    if (-not (Test-Path -LiteralPath $path)) { return $entries }
    $reg = Get-Item -LiteralPath $path
    foreach ($name in $reg.GetValueNames()) {
        if ($null -ne $Keys -and $Keys -notcontains $name) { continue }
        $entries[$name] = ConvertFrom-Json -InputObject ([string]$reg.GetValue($name))
    }
    return $entries
}

#winfleet:end-of-common
