package refsvc

import "log/slog"

// logEvents writes events as JSON log lines ("msg":"event"): the Linux build's event log.
type logEvents struct{ log *slog.Logger }

func (e *logEvents) Info(id uint32, msg string)    { e.log.Info("event", "eventId", id, "text", msg) }
func (e *logEvents) Warning(id uint32, msg string) { e.log.Warn("event", "eventId", id, "text", msg) }
func (e *logEvents) Error(id uint32, msg string)   { e.log.Error("event", "eventId", id, "text", msg) }
func (e *logEvents) Close()                        {}
