package rotate

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// errShared stands for ERROR_SHARING_VIOLATION in tests that run on Linux.
var errShared = errors.New("The process cannot access the file because it is being used by another process.")

type line struct {
	Msg string `json:"msg"`
	G   int    `json:"g"`
	I   int    `json:"i"`
}

// readAll parses every file in dir and returns the lines by (g, i); it fails on any torn line.
func readAll(t *testing.T, dir string) (map[[2]int]int, int) {
	t.Helper()
	seen := map[[2]int]int{}
	total := 0
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Msg != "line" {
				t.Fatalf("%s: torn or foreign line %q: %v", f, sc.Text(), err)
			}
			seen[[2]int{l.G, l.I}]++
			total++
		}
		fh.Close()
	}
	return seen, total
}

func hammer(t *testing.T, w *Writer, goroutines, perG int, viaSlog bool) {
	t.Helper()
	var wg sync.WaitGroup
	logger := slog.New(slog.NewJSONHandler(w, nil))
	pad := string(make([]byte, 0))
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				if viaSlog {
					logger.Info("line", "g", g, "i", i, "pad", pad)
				} else if _, err := fmt.Fprintf(w, "{\"msg\":\"line\",\"g\":%d,\"i\":%d}\n", g, i); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func checkExact(t *testing.T, dir string, goroutines, perG int) {
	t.Helper()
	seen, total := readAll(t, dir)
	if want := goroutines * perG; total != want || len(seen) != want {
		t.Fatalf("found %d lines (%d distinct), want exactly %d", total, len(seen), want)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("line %v written %d times", k, n)
		}
	}
}

func TestConcurrentWritersAcrossManyRotationsLoseNoLine(t *testing.T) {
	for _, viaSlog := range []bool{false, true} {
		t.Run(fmt.Sprintf("slog=%v", viaSlog), func(t *testing.T) {
			dir := t.TempDir()
			w := &Writer{Dir: dir, Base: "svc", MaxSize: 16 << 10, MaxFiles: 100000}
			if err := w.Open(); err != nil {
				t.Fatal(err)
			}
			const goroutines, perG = 32, 2000
			hammer(t, w, goroutines, perG, viaSlog)
			w.Close()
			rot, failed := w.Stats()
			if rot < 100 || failed != 0 {
				t.Fatalf("rotations %d (want >= 100), failed %d", rot, failed)
			}
			checkExact(t, dir, goroutines, perG)
			// no file but the current one is over the limit
			backups, _ := w.Backups()
			for _, b := range backups {
				if st, _ := os.Stat(b); st.Size() > w.MaxSize {
					t.Fatalf("%s is %d bytes, over %d", b, st.Size(), w.MaxSize)
				}
			}
			t.Logf("%d lines, %d rotations, %d files", goroutines*perG, rot, len(backups)+1)
		})
	}
}

func TestKeepsAtMostMaxFiles(t *testing.T) {
	dir := t.TempDir()
	w := &Writer{Dir: dir, Base: "svc", MaxSize: 1 << 10, MaxFiles: 3}
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	hammer(t, w, 4, 500, false)
	for i := 0; i < 40; i++ { // then one writer: the newest 40 lines (< 2 files' worth) must be kept
		fmt.Fprintf(w, "{\"msg\":\"line\",\"g\":99,\"i\":%d}\n", i)
	}
	w.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(files) != 3 {
		t.Fatalf("%d files kept, want 3: %v", len(files), files)
	}
	seen, _ := readAll(t, dir)
	for i := 0; i < 40; i++ {
		if seen[[2]int{99, i}] != 1 {
			t.Fatalf("newest line %d missing", i)
		}
	}
}

// A rename refused a few times (antivirus holding the file) is retried and nothing is lost.
func TestRenameRetriedOnSharingViolation(t *testing.T) {
	dir := t.TempDir()
	var calls, refused atomic.Int64
	w := &Writer{Dir: dir, Base: "svc", MaxSize: 4 << 10, MaxFiles: 100000, Backoff: 1,
		Retryable: func(err error) bool { return errors.Is(err, errShared) },
		Rename: func(o, n string) error {
			if calls.Add(1)%3 != 0 { // two refusals before each success
				refused.Add(1)
				return &os.LinkError{Op: "rename", Old: o, New: n, Err: errShared}
			}
			return os.Rename(o, n)
		}}
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	hammer(t, w, 16, 500, false)
	w.Close()
	rot, failed := w.Stats()
	if rot < 20 || failed != 0 || refused.Load() < 40 {
		t.Fatalf("rotations %d failed %d refused %d", rot, failed, refused.Load())
	}
	checkExact(t, dir, 16, 500)
}

// A rename refused for good keeps every line in the current file (it grows past the limit) and
// a non-retryable error is not retried.
func TestRenameRefusedForGoodLosesNothing(t *testing.T) {
	dir := t.TempDir()
	var calls atomic.Int64
	w := &Writer{Dir: dir, Base: "svc", MaxSize: 2 << 10, MaxFiles: 5, Retries: 2, Backoff: 1,
		Retryable: func(err error) bool { return errors.Is(err, errShared) },
		Rename: func(o, n string) error {
			calls.Add(1)
			return &os.LinkError{Op: "rename", Old: o, New: n, Err: errShared}
		}}
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	hammer(t, w, 8, 300, false)
	w.Close()
	rot, failed := w.Stats()
	if rot != 0 || failed == 0 {
		t.Fatalf("rotations %d failed %d", rot, failed)
	}
	if c := calls.Load(); c != int64(failed*3) {
		t.Fatalf("%d rename calls for %d failed rotations with 2 retries", c, failed)
	}
	checkExact(t, dir, 8, 300)

	w2 := &Writer{Dir: t.TempDir(), Base: "svc", MaxSize: 64, MaxFiles: 5, Retries: 5,
		Rename: func(o, n string) error { calls.Add(1); return errors.New("disk gone") }}
	calls.Store(0)
	if err := w2.Open(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w2, "%s\n", string(make([]byte, 70)))
	fmt.Fprintf(w2, "x\n")
	w2.Close()
	if calls.Load() != 1 {
		t.Fatalf("a non-sharing error was tried %d times", calls.Load())
	}
}

func TestReopenAppends(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		w := &Writer{Dir: dir, Base: "svc", MaxSize: 1 << 20, MaxFiles: 2}
		if err := w.Open(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "{\"msg\":\"line\",\"g\":0,\"i\":%d}\n", i)
		w.Close()
	}
	checkExact(t, dir, 1, 2)
}
