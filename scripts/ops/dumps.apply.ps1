# dumps.apply {"exeName", "dumpFolder", "dirs", "serviceName"|null, "steps": [
#     {"do": "mkdir", "path", "grant", "sid", "rights"} | {"do": "localDumps", "values"|null, "exeName"?, "upTo"?} |
#     {"do": "revoke", "path", "identity", "sid"} | {"do": "removeDir", "path", "upTo"}]}
#  -> {"changed": bool, "state": {<as dumps.read>, "steps": [{"do","changed"}]}}
# Python (components/host/crash_dumps.py) plans; this script performs the steps in order:
#   mkdir       folder (+ parents) and an explicit Allow ACE (inheritable) for the service account, by SID
#               for NT SERVICE\<name> so it works before the service exists; WER writes the dump in the
#               crashing process's context, so the account must be able to write (DumpFolder doc).
#   localDumps  the LocalDumps\<exe> key set to exactly the given values (DumpFolder REG_EXPAND_SZ,
#               DumpCount/DumpType REG_DWORD), or removed when values is null.
#   revoke / removeDir (+ empty parents up to upTo): the restore of what mkdir did.
param($P)
$ErrorActionPreference = 'Stop'

$done = @()
foreach ($step in @($P.steps)) {
    $verb = [string]$step.'do'
    $changed = $false
    switch ($verb) {
        'mkdir' {
            $p = [string]$step.path
            if (-not (Test-Path -LiteralPath ($p.Substring(0, 2) + '\') -PathType Container)) {
                Fail 'PATH_NOT_FOUND' "drive $($p.Substring(0, 2)) does not exist on the host"
            }
            $changed = New-OwnedDirectory -Path $p
            if ($step.grant) { Set-DirAce -Path $p -Step $step; $changed = $true }
        }
        'localDumps' {
            $exe = [string]$P.exeName
            if ($step.exeName) { $exe = [string]$step.exeName }
            $changed = Set-RegKeyExact -SubKey ('SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps\' + $exe) -Values $step.values
            if ($null -eq $step.values) {
                # an empty LocalDumps key has no effect: remove it with the last per-exe key, whichever
                # CrashDumps created it (the Windows Error Reporting key itself is never empty on Windows)
                foreach ($parent in @('HKLM\SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps', 'HKLM\SOFTWARE\Microsoft\Windows\Windows Error Reporting')) {
                    $k = Get-Item -LiteralPath ($parent -replace '^HKLM\\', 'HKLM:\') -ErrorAction SilentlyContinue
                    if ($null -ne $k -and $k.SubKeyCount -eq 0 -and $k.ValueCount -eq 0) {
                        Remove-Item -LiteralPath ($parent -replace '^HKLM\\', 'HKLM:\') -Force
                        $changed = $true
                    } else { break }
                }
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
