package main

import (
	"fmt"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/windows/svc"

	"winfleet/goservice/internal/refsvc"
)

func run() int {
	isSvc, err := svc.IsWindowsService()
	if err != nil || !isSvc {
		// Started from a console: Ctrl+C takes the stop path.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		return runConsole(sig)
	}
	h := &handler{}
	// For a SERVICE_WIN32_OWN_PROCESS service the name is not checked (SERVICE_TABLE_ENTRY and
	// RegisterServiceCtrlHandlerEx, learn.microsoft.com/windows/win32/api/winsvc); Execute gets the
	// real one in args[0].
	base, _ := baseName()
	if err := svc.Run(base, h); err != nil {
		return refsvc.ExitServe
	}
	return h.exit
}

func runConsole(sig <-chan os.Signal) int {
	s, code := setup("")
	if s == nil {
		return code
	}
	if f := s.Start(); f != nil {
		return f.Code
	}
	select {
	case got := <-sig:
		return s.Stop(got.String(), func(uint32, time.Duration) {})
	case err := <-s.Failed():
		return s.Fail(refsvc.ExitServe, err)
	}
}

// handler is the SCM's view. A service is stopped by SCM controls, never by a signal: signal.Notify
// alone would see nothing. PreShutdown must be accepted for the drain to happen when Windows shuts
// down: without SERVICE_ACCEPT_PRESHUTDOWN the service only gets SERVICE_CONTROL_SHUTDOWN, with about
// 5 s before the process is killed, and the pre-shutdown timeout winfleet sets is never used
// (https://learn.microsoft.com/windows/win32/services/service-control-handler-function).
type handler struct{ exit int }

func accepts(names []string) svc.Accepted {
	bits := map[string]svc.Accepted{"stop": svc.AcceptStop, "shutdown": svc.AcceptShutdown, "preshutdown": svc.AcceptPreShutdown}
	var a svc.Accepted
	for _, c := range names {
		a |= bits[c]
	}
	return a
}

func (h *handler) Execute(args []string, r <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending, WaitHint: 30000}
	name := ""
	if len(args) > 0 {
		name = args[0]
	}
	s, code := setup(name)
	if s == nil {
		return h.failed(code)
	}
	if f := s.Start(); f != nil {
		return h.failed(f.Code)
	}
	status <- svc.Status{State: svc.Running, Accepts: accepts(s.Accepted())}
	for {
		select {
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown, svc.PreShutdown:
				reason := map[svc.Cmd]string{svc.Stop: "SCM stop", svc.Shutdown: "system shutdown",
					svc.PreShutdown: "system pre-shutdown"}[c.Cmd]
				// Drain while still answering Interrogate (the SCM's control channel must not block).
				done := make(chan int, 1)
				go func() {
					done <- s.Stop(reason, func(cp uint32, hint time.Duration) {
						status <- svc.Status{State: svc.StopPending, CheckPoint: cp, WaitHint: uint32(hint.Milliseconds())}
					})
				}()
				for {
					select {
					case h.exit = <-done:
						return false, uint32(h.exit)
					case c := <-r:
						if c.Cmd == svc.Interrogate {
							status <- c.CurrentStatus
						}
					}
				}
			}
		case err := <-s.Failed():
			return h.failed(s.Fail(refsvc.ExitServe, fmt.Errorf("http server: %w", err)))
		}
	}
}

// failed reports a real failure as a service-specific exit code (Win32ExitCode
// ERROR_SERVICE_SPECIFIC_ERROR): with "failure actions on non-crash failures" set, the SCM then
// runs the recovery actions (https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_failure_actions_flag).
func (h *handler) failed(code int) (bool, uint32) {
	h.exit = code
	return true, uint32(code)
}
