// Package rotate is an io.Writer of whole JSON lines into <dir>/<base>.log that rotates in-process
// at a size limit and keeps at most a given number of files.
//
// Why not a library: the well-known one (gopkg.in/natefinch/lumberjack.v2) renames with a bare
// os.Rename and gives up on the first error (the Write that triggered the rotation returns it: that
// line is lost), and it removes old files from a background goroutine.
// On Windows a rename or delete fails with ERROR_SHARING_VIOLATION or ERROR_ACCESS_DENIED while any
// other process (antivirus, a log shipper, the indexer, backup) holds the file open without
// FILE_SHARE_DELETE (https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew,
// dwShareMode), so a rotation must be retried and must never lose the lines written meanwhile.
// That part is small, so it lives here.
//
// The rules:
//   - every Write is one whole line (log/slog's handlers make exactly one Write per record) and
//     lands whole in exactly one file: a rotation happens only between two Writes, under the lock;
//   - our own handle is closed before the rename: Go opens files without FILE_SHARE_DELETE, so on
//     Windows even our own open handle would make the rename fail;
//   - a rename refused with a sharing violation / access denied is retried with backoff; if it
//     still fails, the current file is reopened for append and writing goes on in it (the file
//     grows past the limit rather than lose a line), and the rotation is tried again later.
package rotate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Writer writes lines into Dir/Base.log; rotated files are Dir/Base-<UTC time>-<seq>.log.
type Writer struct {
	Dir      string
	Base     string
	MaxSize  int64 // rotate before a write would take the current file past this many bytes
	MaxFiles int   // keep at most this many files, the current one included (>= 1)

	// Retries is how many times a refused rename or delete is retried; Backoff the first wait
	// (doubled each time, at most MaxBackoff).
	Retries    int
	Backoff    time.Duration
	MaxBackoff time.Duration

	// Hooks for tests; nil means the platform's own.
	Rename    func(oldpath, newpath string) error
	Remove    func(path string) error
	Retryable func(error) bool
	Now       func() time.Time

	mu        sync.Mutex
	f         *os.File
	size      int64
	nextTry   int64 // after a failed rotation: the size at which to try again
	seq       uint64
	lastErr   error
	rotations int
	failed    int
}

// Open creates the directory if needed and opens (appends to) the current file.
func (w *Writer) Open() error {
	if w.MaxSize <= 0 || w.MaxFiles < 1 {
		return fmt.Errorf("rotate: MaxSize must be > 0 and MaxFiles >= 1 (got %d, %d)", w.MaxSize, w.MaxFiles)
	}
	if w.Retries == 0 {
		w.Retries = 8
	}
	if w.Backoff == 0 {
		w.Backoff = 5 * time.Millisecond
	}
	if w.MaxBackoff == 0 {
		w.MaxBackoff = 200 * time.Millisecond
	}
	if w.Rename == nil {
		w.Rename = os.Rename
	}
	if w.Remove == nil {
		w.Remove = os.Remove
	}
	if w.Retryable == nil {
		w.Retryable = isSharingError
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if err := os.MkdirAll(w.Dir, 0o750); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.openCurrent()
}

// Path is the current file's path.
func (w *Writer) Path() string { return filepath.Join(w.Dir, w.Base+".log") }

func (w *Writer) openCurrent() error {
	f, err := os.OpenFile(w.Path(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Write writes p (one whole line) to the current file, rotating first when p would not fit.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		if err := w.openCurrent(); err != nil {
			w.lastErr = err
			return 0, err
		}
	}
	if w.size > 0 && w.size+int64(len(p)) > w.MaxSize && w.size >= w.nextTry {
		w.rotate()
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	w.lastErr = err
	return n, err
}

// Err is the error of the last write or open (nil when it succeeded): the liveness check reads it.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// Stats reports the rotations done and the rotations that failed (kept writing in the old file).
func (w *Writer) Stats() (rotations, failed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rotations, w.failed
}

// Close closes the current file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// rotate runs under w.mu. Whatever fails, w.f is open again when it returns (or lastErr says why).
func (w *Writer) rotate() {
	if err := w.f.Close(); err != nil {
		w.lastErr = err
	}
	w.f = nil
	target := w.backupName()
	err := w.retry(func() error { return w.Rename(w.Path(), target) })
	if err != nil {
		w.failed++
		// Keep every line: append to the file we could not move, and try again after another
		// eighth of the limit has been written (not on every write: each try may wait).
		w.nextTry = w.size + w.MaxSize/8
	} else {
		w.rotations++
		w.nextTry = 0
	}
	if oerr := w.openCurrent(); oerr != nil {
		w.lastErr = oerr
		return
	}
	if err == nil {
		w.prune()
	}
}

func (w *Writer) backupName() string {
	w.seq++
	stamp := w.Now().UTC().Format("20060102T150405.000000000")
	return filepath.Join(w.Dir, fmt.Sprintf("%s-%s-%06d.log", w.Base, stamp, w.seq%1000000))
}

// Backups lists the rotated files, oldest first (their names sort by time).
func (w *Writer) Backups() ([]string, error) {
	ents, err := os.ReadDir(w.Dir)
	if err != nil {
		return nil, err
	}
	var out []string
	prefix := w.Base + "-"
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() && strings.HasPrefix(n, prefix) && strings.HasSuffix(n, ".log") {
			out = append(out, filepath.Join(w.Dir, n))
		}
	}
	sort.Strings(out)
	return out, nil
}

// prune removes the oldest backups beyond MaxFiles-1. A delete refused even after the retries is
// left for the next rotation (the file is only over the count, nothing is lost).
func (w *Writer) prune() {
	backups, err := w.Backups()
	if err != nil {
		return
	}
	for len(backups) > w.MaxFiles-1 {
		old := backups[0]
		backups = backups[1:]
		_ = w.retry(func() error {
			err := w.Remove(old)
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		})
	}
}

func (w *Writer) retry(f func() error) error {
	wait := w.Backoff
	var err error
	for i := 0; ; i++ {
		if err = f(); err == nil || !w.Retryable(err) || i >= w.Retries {
			return err
		}
		time.Sleep(wait)
		if wait *= 2; wait > w.MaxBackoff {
			wait = w.MaxBackoff
		}
	}
}
