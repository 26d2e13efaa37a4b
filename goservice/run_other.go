//go:build !windows

package main

import (
	"winfleet/goservice/internal/refsvc"

	"os"
	"os/signal"
	"syscall"
	"time"
)

// run: off Windows (the emulator's twin, tests, a developer's shell) SIGTERM and SIGINT take the
// same stop path as the SCM's Stop/Shutdown/PreShutdown on Windows, and exit 0 the same way.
func run() int {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	return runConsole(sig)
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
		return s.Stop(got.String(), func(cp uint32, hint time.Duration) {
			s.Log.Info("stop pending", "checkPoint", cp, "waitHintMs", hint.Milliseconds())
		})
	case err := <-s.Failed():
		return s.Fail(refsvc.ExitServe, err)
	}
}
