//go:build !windows

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real binary, as the emulator runs it: signals, exit codes, crash output, crash events.

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "winfleet-refsvc")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(t *testing.T, bin, logDir string, port int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "WINFLEET_PORT="+fmt.Sprint(port), "WINFLEET_LOG_DIR="+logDir,
		"WINFLEET_DRAIN_SECONDS=1", "WINFLEET_LOG_MAX_SIZE_BYTES=65536", "WINFLEET_LOG_MAX_FILES=3",
		"REFSVC_LISTEN_HOST=127.0.0.1", "REFSVC_TEST_ENDPOINTS=1", "GOTRACEBACK=all")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	for i := 0; i < 200; i++ {
		if r, err := http.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("never ready")
	return nil
}

func wait(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		t.Fatal("process did not exit")
		return -1
	}
}

func events(t *testing.T, logDir string) []float64 {
	var ids []float64
	fh, err := os.Open(filepath.Join(logDir, "winfleet-refsvc.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("torn line %q", sc.Text())
		}
		if m["msg"] == "event" {
			ids = append(ids, m["eventId"].(float64))
		}
	}
	return ids
}

func TestSigtermAndSigintExitZero(t *testing.T) {
	bin := build(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		logDir := t.TempDir()
		cmd := start(t, bin, logDir, freePort(t))
		t0 := time.Now()
		cmd.Process.Signal(sig)
		if code := wait(t, cmd); code != 0 {
			t.Fatalf("%s: exit code %d, want 0 (a requested stop)", sig, code)
		}
		if d := time.Since(t0); d < time.Second {
			t.Fatalf("%s: exited after %s, before WINFLEET_DRAIN_SECONDS=1", sig, d)
		}
		if got := fmt.Sprint(events(t, logDir)); got != "[100 101 102]" {
			t.Fatalf("events %s", got)
		}
	}
}

func TestCrashTraceSurvivesAndRestartIsReported(t *testing.T) {
	bin := build(t)
	logDir := t.TempDir()
	port := freePort(t)
	cmd := start(t, bin, logDir, port)
	r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/test/crash?mode=panic", port))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if code := wait(t, cmd); code != 2 {
		t.Fatalf("exit code %d after a panic, want the runtime's 2", code)
	}
	trace, _ := os.ReadFile(filepath.Join(logDir, "winfleet-refsvc.crash.log"))
	if !strings.Contains(string(trace), "crash requested on /test/crash") || !strings.Contains(string(trace), "goroutine") {
		t.Fatalf("crash output: %q", trace)
	}
	// the next start reports it (event 110) and keeps the trace
	cmd = start(t, bin, logDir, port)
	cmd.Process.Signal(syscall.SIGTERM)
	if code := wait(t, cmd); code != 0 {
		t.Fatalf("exit %d", code)
	}
	ids := events(t, logDir)
	if fmt.Sprint(ids) != "[100 110 100 101 102]" {
		t.Fatalf("events %v", ids)
	}
	kept, _ := filepath.Glob(filepath.Join(logDir, "winfleet-refsvc.crash-*.log"))
	if len(kept) != 1 {
		t.Fatalf("kept traces %v", kept)
	}
}

func TestBadEnvironmentIsARealFailure(t *testing.T) {
	bin := build(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "WINFLEET_PORT=99999", "WINFLEET_LOG_DIR="+t.TempDir())
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 10 || !strings.Contains(string(out), "WINFLEET_PORT") {
		t.Fatalf("exit %d: %s", cmd.ProcessState.ExitCode(), out)
	}
}
