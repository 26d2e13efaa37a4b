package refsvc

// Event IDs written to the service's event source. winfleet registers the source with
// EventCreate.exe as its message file, whose message table holds IDs 1-1000 only: an event with
// another ID shows "The description for Event ID ... cannot be found" instead of its text
// (https://learn.microsoft.com/windows-server/administration/windows-commands/eventcreate: "/id
// EventID: Specifies the event ID for the event. A valid ID is any number from 1 to 1000").
const (
	EventStarted        uint32 = 100 // Information: started and ready to be polled
	EventStopping       uint32 = 101 // Information: a stop was requested, draining
	EventStopped        uint32 = 102 // Information: stopped after a requested stop (exit code 0)
	EventCrashRestarted uint32 = 110 // Warning: started again after the previous process died without stopping
	EventFailed         uint32 = 120 // Error: a real failure; the process exits non-zero
)

// EventIDs lists every ID above (a test checks the range).
var EventIDs = []uint32{EventStarted, EventStopping, EventStopped, EventCrashRestarted, EventFailed}

// Events is the service's event log (the Windows event source) or, elsewhere, a JSON log line.
type Events interface {
	Info(id uint32, msg string)
	Warning(id uint32, msg string)
	Error(id uint32, msg string)
	Close()
}
