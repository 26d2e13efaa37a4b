// Command winfleet-refsvc is winfleet's reference Go service: the workload of the lab and example
// stacks, a template to copy, and the real process behind the emulator's services (its Linux build).
// docs/writing-a-go-service.md describes the contract it keeps.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"winfleet/goservice/internal/refsvc"
)

// baseName is the executable's name without .exe: it names the log, crash and marker files.
func baseName() (string, string) {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return strings.TrimSuffix(filepath.Base(exe), ".exe"), filepath.Dir(exe)
}

// setup reads the configuration and builds the service. Before the log is open there is nowhere
// to write but stderr (which a Windows service does not have): the SCM records the exit code.
func setup(serviceName string) (*refsvc.Service, int) {
	base, exeDir := baseName()
	if serviceName == "" {
		serviceName = base
	}
	cfg, err := refsvc.FromEnv(os.Getenv, filepath.Join(exeDir, "logs"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "winfleet-refsvc: configuration:", err)
		return nil, refsvc.ExitConfig
	}
	s, fail := refsvc.New(cfg, base, serviceName)
	if fail != nil {
		fmt.Fprintln(os.Stderr, "winfleet-refsvc:", fail)
		return nil, fail.Code
	}
	return s, 0
}

func main() {
	os.Exit(run())
}
