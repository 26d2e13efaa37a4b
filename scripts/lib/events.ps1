# winfleet library (scripts/lib/events.ps1): crash reports about one service from the event logs.
# Used by service.read (on refresh). Functions only.

function Read-CrashEvent {
    # SCM (System, "Service Control Manager": 7031 crash + recovery action, 7034 crash, 7024 service-specific
    # exit; %1 is the display name) and WER (Application: 1000 "Application Error" %1 = exe, 1001 "Windows
    # Error Reporting" P1 = exe, the 6th property) since $Query.since (ISO 8601 UTC), oldest first.
    # Matching is on the event's insertion strings, never on the (localized) message text.
    param([Parameter(Mandatory = $true)]$Query)
    $since = [DateTime]::Parse([string]$Query.since, [Globalization.CultureInfo]::InvariantCulture,
        [Globalization.DateTimeStyles]::RoundtripKind)
    $names = @([string]$Query.displayName, [string]$Query.serviceName) | Where-Object { $_ }
    $exe = [string]$Query.exeName
    $filters = @(
        @{ LogName = 'System'; ProviderName = 'Service Control Manager'; Id = 7031, 7034, 7024; StartTime = $since },
        @{ LogName = 'Application'; Id = 1000, 1001; StartTime = $since }
    )
    $out = @()
    foreach ($filter in $filters) {
        try {
            $events = @(Get-WinEvent -FilterHashtable $filter -MaxEvents 500 -ErrorAction Stop)
        } catch {
            if ([string]$_.FullyQualifiedErrorId -like 'NoMatchingEventsFound*') { $events = @() } else { throw }
        }
        foreach ($e in $events) {
            $values = @($e.Properties | ForEach-Object { [string]$_.Value })
            $hit = $false
            if ($e.LogName -eq 'System') {
                $hit = $values.Count -gt 0 -and ($names -contains $values[0])
            } elseif ($e.Id -eq 1000) {
                $hit = $values.Count -gt 0 -and $values[0] -eq $exe
            } else {
                $hit = $values.Count -gt 5 -and $values[5] -eq $exe
            }
            if ($hit) {
                $text = [string]$e.Message
                if ($text.Length -gt 300) { $text = $text.Substring(0, 300) }
                $out += , @{ log = [string]$e.LogName; id = [int]$e.Id; provider = [string]$e.ProviderName
                             time = $e.TimeCreated.ToUniversalTime().ToString('o'); message = $text }
            }
        }
    }
    , @($out | Sort-Object { $_.time })
}
