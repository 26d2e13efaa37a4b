package refsvc

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// Crash bookkeeping in the log directory:
//   - <base>.crash.log receives the Go runtime's fatal output (runtime/debug.SetCrashOutput): a
//     service's stderr is not connected to anything, so without it a panic's trace is lost;
//   - <base>.running exists while the process runs and is removed by every orderly exit, so
//     finding it at start means the previous process died without stopping (a panic, a fatal
//     runtime error, TerminateProcess, a power cut).
//
// A non-empty crash file found at start is kept as <base>.crash-<UTC time>.log (the newest
// keepCrashFiles of them).
const keepCrashFiles = 5

// CrashState is what the start found about the previous process.
type CrashState struct {
	PreviousDied bool   // the running marker was left behind
	PreviousPID  string // from the marker
	TraceFile    string // the kept crash trace of the previous process, if it wrote one
}

// Crash owns the crash output file and the running marker.
type Crash struct {
	dir, base string
	out       *os.File
}

func (c *Crash) marker() string    { return filepath.Join(c.dir, c.base+".running") }
func (c *Crash) traceFile() string { return filepath.Join(c.dir, c.base+".crash.log") }

// StartCrash looks at what the previous process left, then arms the crash output and the marker.
func StartCrash(dir, base string, now time.Time) (*Crash, CrashState, error) {
	c := &Crash{dir: dir, base: base}
	var st CrashState
	if b, err := os.ReadFile(c.marker()); err == nil {
		st.PreviousDied = true
		st.PreviousPID = strings.TrimSpace(string(b))
	}
	if fi, err := os.Stat(c.traceFile()); err == nil && fi.Size() > 0 {
		kept := filepath.Join(dir, fmt.Sprintf("%s.crash-%s.log", base, now.UTC().Format("20060102T150405.000000000")))
		if err := os.Rename(c.traceFile(), kept); err == nil {
			st.TraceFile = kept
			st.PreviousDied = true
		}
		c.pruneTraces()
	}
	f, err := os.OpenFile(c.traceFile(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, st, err
	}
	if err := debug.SetCrashOutput(f, debug.CrashOptions{}); err != nil {
		f.Close()
		return nil, st, err
	}
	c.out = f
	if err := os.WriteFile(c.marker(), []byte(fmt.Sprint(os.Getpid())), 0o640); err != nil {
		return nil, st, err
	}
	return c, st, nil
}

func (c *Crash) pruneTraces() {
	old, _ := filepath.Glob(filepath.Join(c.dir, c.base+".crash-*.log"))
	sort.Strings(old)
	for len(old) > keepCrashFiles {
		_ = os.Remove(old[0])
		old = old[1:]
	}
}

// Orderly is called on every exit the program chose (requested stop or a reported failure):
// the marker goes, and an empty crash file with it.
func (c *Crash) Orderly() {
	if c == nil {
		return
	}
	_ = os.Remove(c.marker())
	if c.out != nil {
		fi, err := c.out.Stat()
		_ = debug.SetCrashOutput(nil, debug.CrashOptions{})
		c.out.Close()
		if err == nil && fi.Size() == 0 {
			_ = os.Remove(c.traceFile())
		}
	}
}
