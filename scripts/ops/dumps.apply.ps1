# dumps.apply {"exeName", "dumpFolder", "dirs", "serviceName"|null, "steps": [
#     {"do": "mkdir", "path", "grant", "sid", "rights"} | {"do": "localDumps", "values"|null, "exeName"?, "upTo"?} |
#     {"do": "revoke", "path", "identity", "sid"} | {"do": "removeDir", "path", "upTo"} |
#     {"do": "cleanGlobal", "values": {name: {kind, data}}}]}
#  -> {"changed": bool, "state": {<as dumps.read>, "steps": [{"do","changed"}]}}
# Python (components/host/crash_dumps.py) plans; this script performs the steps in order:
#   mkdir       folder (+ parents) and an explicit Allow ACE (inheritable) for the service account, by SID
#               for NT SERVICE\<name> so it works before the service exists; WER writes the dump in the
#               crashing process's context, so the account must be able to write (DumpFolder doc).
#   localDumps  the LocalDumps\<exe> key set to exactly the given values (DumpFolder REG_EXPAND_SZ,
#               DumpCount/DumpType REG_DWORD), or removed when values is null.
#   revoke / removeDir (+ empty parents up to upTo): the restore of what mkdir did.
#   cleanGlobal the values an earlier winfleet run wrote into the global LocalDumps key by mistake (its
#               `$p` bug; Python recognises them by our DumpFolder and journals them first): each value is
#               deleted only if it still holds exactly the data Python read.
param($P)
$ErrorActionPreference = 'Stop'

$done = @()
foreach ($step in @($P.steps)) {
    $verb = [string]$step.'do'
    $changed = $false
    switch ($verb) {
        'mkdir' {
            # never `$p`: PowerShell variable names ignore case, so `$p` IS the params `$P` (about_Variables,
            # learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_variables)
            $dirPath = [string]$step.path
            if (-not (Test-Path -LiteralPath ($dirPath.Substring(0, 2) + '\') -PathType Container)) {
                Fail 'PATH_NOT_FOUND' "drive $($dirPath.Substring(0, 2)) does not exist on the host"
            }
            $changed = New-OwnedDirectory -Path $dirPath
            if ($step.grant) { Set-DirAce -Path $dirPath -Step $step; $changed = $true }
        }
        'localDumps' {
            $exe = [string]$P.exeName
            if ($step.exeName) { $exe = [string]$step.exeName }
            $changed = Set-RegKeyExact -SubKey ('SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps\' + $exe) -Values $step.values
            if ($null -eq $step.values) {
                # an empty LocalDumps key has no effect: remove it with the last per-exe key, whichever
                # CrashDumps created it (the Windows Error Reporting key itself is never empty on Windows)
                foreach ($parent in @('SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps', 'SOFTWARE\Microsoft\Windows\Windows Error Reporting')) {
                    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($parent)
                    $empty = $false
                    if ($null -ne $k) { try { $empty = ($k.SubKeyCount -eq 0 -and $k.ValueCount -eq 0) } finally { $k.Close() } }
                    if ($empty) {
                        [Microsoft.Win32.Registry]::LocalMachine.DeleteSubKey($parent, $false)
                        $changed = $true
                    } else { break }
                }
            }
        }
        'cleanGlobal' {
            $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps', $true)
            if ($null -ne $k) {
                try {
                    foreach ($prop in $step.values.PSObject.Properties) {
                        $vn = [string]$prop.Name
                        if ($k.GetValueNames() -notcontains $vn) { continue }
                        $live = ConvertTo-RegData -Key $k -Name $vn
                        if ($live.kind -eq [string]$prop.Value.kind -and [string]$live.data -eq [string]$prop.Value.data) {
                            $k.DeleteValue($vn)
                            $changed = $true
                        }
                    }
                } finally { $k.Close() }
            }
        }
        'revoke' { $changed = Revoke-DirAce -Path ([string]$step.path) -Step $step }
        'removeDir' { $changed = Remove-DirUpTo -Path ([string]$step.path) -UpTo ([string]$step.upTo) }
        default { Fail 'BAD_PARAMS' "unknown step $verb" }
    }
    $done += @{ 'do' = $verb; changed = [bool]$changed }
}
$state = Read-DumpState -P $P
$state['steps'] = $done
$anyChange = @($done | Where-Object { $_.changed }).Count -gt 0
@{ changed = $anyChange; state = $state }
