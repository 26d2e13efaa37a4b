package refsvc

import (
	"log/slog"

	"golang.org/x/sys/windows/svc/eventlog"
)

type winEvents struct {
	l   *eventlog.Log
	log *slog.Logger
}

// OpenEvents opens the registered event source (winfleet registers it: eventSource in the
// service config). When it cannot be opened the events still go to the JSON log.
func OpenEvents(source string, log *slog.Logger) Events {
	l, err := eventlog.Open(source)
	if err != nil {
		log.Warn("event source not available; events go to the log only", "source", source, "error", err.Error())
		return &logEvents{log: log}
	}
	return &winEvents{l: l, log: log}
}

func (e *winEvents) Info(id uint32, msg string) {
	e.log.Info("event", "eventId", id, "text", msg)
	_ = e.l.Info(id, msg)
}
func (e *winEvents) Warning(id uint32, msg string) {
	e.log.Warn("event", "eventId", id, "text", msg)
	_ = e.l.Warning(id, msg)
}
func (e *winEvents) Error(id uint32, msg string) {
	e.log.Error("event", "eventId", id, "text", msg)
	_ = e.l.Error(id, msg)
}
func (e *winEvents) Close() { _ = e.l.Close() }
