//go:build !windows

package refsvc

import "log/slog"

// OpenEvents: no event log off Windows; events are JSON log lines with their eventId.
func OpenEvents(source string, log *slog.Logger) Events { return &logEvents{log: log} }
