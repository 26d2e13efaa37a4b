// Package refsvc is winfleet's reference Go service: the HTTP workload, its health and readiness,
// its logs, and the drain every stop goes through. The platform entry points (the SCM handler on
// Windows, signals elsewhere) live in package main and only call Start, Stop and Failed.
package refsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"winfleet/goservice/internal/rotate"
)

// Exit codes. 0 only after a requested stop (SCM Stop/Shutdown/PreShutdown, SIGTERM/SIGINT).
// Anything else is a real failure and must be non-zero: winfleet sets the SCM's "failure actions
// on non-crash failures" flag, so a non-zero exit is what makes the SCM restart the service. The
// reverse matters as much: a non-zero exit after a requested stop (143 for SIGTERM, say) would make
// the SCM "recover" a service an operator or a roll-out just stopped.
const (
	ExitOK       = 0
	ExitConfig   = 10 // the environment is invalid
	ExitLogs     = 11 // the log directory cannot be written
	ExitSecrets  = 12 // WINFLEET_SECRETS_FILE is set but unreadable
	ExitListen   = 13 // the port cannot be bound
	ExitServe    = 14 // the HTTP server failed while running
	ExitCrashOut = 15 // the crash output file cannot be armed
)

// Version is stamped at build time (-ldflags -X).
var Version = "dev"

// AcceptedControls are the SCM controls the Windows handler accepts (run_windows.go builds its
// svc.Accepts from this list) and the "started" log line reports: all three, or a system shutdown
// gets no drain (without PreShutdown) or a stop gets none (without Stop).
var AcceptedControls = []string{"stop", "shutdown", "preshutdown"}

// Failure is a reported failure: the exit code and why.
type Failure struct {
	Code int
	Err  error
}

func (f *Failure) Error() string { return f.Err.Error() }

// Service is one running instance.
type Service struct {
	cfg     Config
	Log     *slog.Logger
	logs    *rotate.Writer
	events  Events
	crash   *Crash
	secrets Secrets

	ready    atomic.Bool
	draining atomic.Bool
	srv      *http.Server
	ln       net.Listener
	failed   chan error
	stopOnce sync.Once
	inflight atomic.Int64
}

// New opens the logs and the crash output and reads the secrets: everything that can fail before
// the service reports Running. base names the files in the log directory (the executable's name).
func New(cfg Config, base, eventSource string) (*Service, *Failure) {
	w := &rotate.Writer{Dir: cfg.LogDir, Base: base, MaxSize: cfg.LogMaxSize, MaxFiles: cfg.LogMaxFiles}
	if err := w.Open(); err != nil {
		return nil, &Failure{ExitLogs, fmt.Errorf("log directory %s: %w", cfg.LogDir, err)}
	}
	s := &Service{cfg: cfg, logs: w, failed: make(chan error, 1)}
	s.Log = slog.New(slog.NewJSONHandler(w, nil)).With("service", eventSource, "pid", os.Getpid())
	if cfg.EventSource != "" {
		eventSource = cfg.EventSource
	}
	s.events = OpenEvents(eventSource, s.Log)
	crash, st, err := StartCrash(cfg.LogDir, base, time.Now())
	if err != nil {
		return nil, s.fail(&Failure{ExitCrashOut, fmt.Errorf("crash output in %s: %w", cfg.LogDir, err)})
	}
	s.crash = crash
	if st.PreviousDied {
		msg := "started again after the previous process (pid " + st.PreviousPID + ") died without stopping"
		if st.TraceFile != "" {
			msg += "; its fatal trace: " + st.TraceFile
		}
		s.events.Warning(EventCrashRestarted, msg)
	}
	if s.secrets, err = ReadSecrets(cfg.SecretsFile); err != nil {
		return nil, s.fail(&Failure{ExitSecrets, err})
	}
	return s, nil
}

// fail records a real failure (event + log), ends the crash bookkeeping orderly, returns f.
func (s *Service) fail(f *Failure) *Failure {
	s.events.Error(EventFailed, fmt.Sprintf("failed (exit code %d): %v", f.Code, f.Err))
	s.crash.Orderly()
	s.events.Close()
	s.logs.Close()
	return f
}

// Start binds the port and serves. Readiness turns true after the warm-up.
func (s *Service) Start() *Failure {
	mux := http.NewServeMux()
	mux.HandleFunc(s.cfg.HealthPath, s.health)
	mux.HandleFunc(s.cfg.ReadinessPath, s.readiness)
	mux.HandleFunc("/work", s.work)
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"version": Version})
	})
	if s.cfg.TestEndpoints {
		mux.HandleFunc("/test/crash", s.testCrash)
	}
	addr := net.JoinHostPort(s.cfg.ListenHost, strconv.Itoa(s.cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return s.fail(&Failure{ExitListen, fmt.Errorf("listen on %s: %w", addr, err)})
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.logRequests(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.failed <- err
		}
	}()
	go func() {
		time.Sleep(s.cfg.Warmup)
		if !s.draining.Load() {
			s.ready.Store(true)
		}
	}()
	names := s.secrets.Names()
	s.Log.Info("started", "version", Version, "addr", ln.Addr().String(), "drainSeconds", s.cfg.Drain.Seconds(),
		"logDir", s.cfg.LogDir, "logMaxSizeBytes", s.cfg.LogMaxSize, "logMaxFiles", s.cfg.LogMaxFiles,
		"gotraceback", s.cfg.GoTraceback, "secrets", len(names), "testEndpoints", s.cfg.TestEndpoints,
		"acceptedControls", s.cfg.Accepted)
	s.events.Info(EventStarted, fmt.Sprintf("started (version %s) on %s", Version, ln.Addr()))
	return nil
}

// Accepted are the SCM controls this instance accepts (AcceptedControls unless a test narrowed them).
func (s *Service) Accepted() []string { return s.cfg.Accepted }

// Addr is the bound address (tests use port 0).
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Failed delivers an unrequested server failure.
func (s *Service) Failed() <-chan error { return s.failed }

// Progress is told the stop's progress: on Windows it becomes SERVICE_STOP_PENDING with this
// CheckPoint and WaitHint (the SCM considers a service hung when the CheckPoint does not rise
// within the WaitHint: https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_status).
type Progress func(checkPoint uint32, waitHint time.Duration)

// progressTick is how often the stop reports progress; the wait hint covers two ticks.
const progressTick = time.Second

// Stop is the one stop path (SCM Stop, Shutdown, PreShutdown; SIGTERM, SIGINT): readiness answers
// 503 at once, the service keeps serving for the drain time (the load balancer notices and stops
// sending), then http.Server.Shutdown lets the requests in flight finish, bounded by ShutdownGrace.
// It returns ExitOK: the stop was requested, and a cut request is not a reason for the SCM to run
// failure actions. A second call waits for the first.
func (s *Service) Stop(reason string, progress Progress) int {
	code := ExitOK
	s.stopOnce.Do(func() {
		s.draining.Store(true)
		s.ready.Store(false)
		waitHint := 2 * progressTick
		var cp uint32 = 1
		progress(cp, waitHint)
		s.Log.Info("stopping", "reason", reason, "drainSeconds", s.cfg.Drain.Seconds(), "inFlight", s.inflight.Load())
		s.events.Info(EventStopping, fmt.Sprintf("stop requested (%s): draining for %s", reason, s.cfg.Drain))

		tick := time.NewTicker(progressTick)
		defer tick.Stop()
		drainEnd := time.After(s.cfg.Drain)
	drain:
		for {
			select {
			case <-drainEnd:
				break drain
			case <-tick.C:
				cp++
				progress(cp, waitHint)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.srv.Shutdown(ctx) }()
		var err error
	shutdown:
		for {
			select {
			case err = <-done:
				break shutdown
			case <-tick.C:
				cp++
				progress(cp, waitHint)
			}
		}
		if err != nil {
			s.Log.Warn("requests still in flight after the shutdown grace were cut",
				"graceSeconds", s.cfg.ShutdownGrace.Seconds(), "inFlight", s.inflight.Load(), "error", err.Error())
			_ = s.srv.Close()
		}
		s.Log.Info("stopped", "reason", reason, "exitCode", code)
		s.events.Info(EventStopped, fmt.Sprintf("stopped (%s), exit code %d", reason, code))
		s.closeAll()
	})
	return code
}

// Fail ends the process's bookkeeping after an unrequested failure and returns its exit code.
func (s *Service) Fail(code int, err error) int {
	s.stopOnce.Do(func() {
		s.ready.Store(false)
		if s.srv != nil {
			_ = s.srv.Close()
		}
		s.fail(&Failure{code, err})
	})
	return code
}

func (s *Service) closeAll() {
	s.crash.Orderly()
	s.events.Close()
	_ = s.logs.Close()
}

// --- handlers ------------------------------------------------------------------------------

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// health is liveness: the process can do its work. It fails when the log directory cannot be
// written or when less than one log file's size is left to the account (the NTFS quota winfleet
// sets, or the disk): the next rotation would fail. Restarting is the remedy for neither,
// but the load balancer and winfleet's watchdog should see it.
func (s *Service) health(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{}
	ok := true
	probe := filepath.Join(s.cfg.LogDir, ".liveness-probe")
	if err := os.WriteFile(probe, []byte("ok"), 0o640); err != nil {
		checks["logDirWritable"], ok = err.Error(), false
	} else {
		_ = os.Remove(probe)
		checks["logDirWritable"] = "ok"
	}
	if err := s.logs.Err(); err != nil {
		checks["logWrite"], ok = err.Error(), false
	}
	if free, err := freeBytes(s.cfg.LogDir); err != nil {
		checks["quotaHeadroom"], ok = err.Error(), false
	} else if free < uint64(s.cfg.LogMaxSize) {
		checks["quotaHeadroom"], ok = fmt.Sprintf("%d bytes left, less than one log file (%d)", free, s.cfg.LogMaxSize), false
	} else {
		checks["quotaHeadroom"] = "ok"
	}
	code, status := 200, "ok"
	if !ok {
		code, status = 503, "failing"
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}

// readiness: 200 only while serving normally; 503 while starting and from the first moment of a stop.
func (s *Service) readiness(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.draining.Load():
		writeJSON(w, 503, map[string]any{"status": "draining"})
	case !s.ready.Load():
		writeJSON(w, 503, map[string]any{"status": "starting"})
	default:
		writeJSON(w, 200, map[string]any{"status": "ready"})
	}
}

// work takes ms milliseconds (0..60000): a request to watch finish during a drain.
func (s *Service) work(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms < 0 || ms > 60000 {
		writeJSON(w, 400, map[string]any{"error": "ms must be an integer in 0..60000"})
		return
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		writeJSON(w, 200, map[string]any{"sleptMs": ms, "draining": s.draining.Load()})
	case <-r.Context().Done(): // the client went away
	}
}

// testCrash (REFSVC_TEST_ENDPOINTS=1 only) kills the process the way real bugs do, for the
// emulator's recovery-action tests: ?mode=panic (an unrecovered panic on another goroutine: the
// runtime prints the trace to the crash output and exits with code 2) or ?mode=exit&code=N.
func (s *Service) testCrash(w http.ResponseWriter, r *http.Request) {
	mode := r.URL.Query().Get("mode")
	code, _ := strconv.Atoi(r.URL.Query().Get("code"))
	if mode != "panic" && mode != "exit" {
		writeJSON(w, 400, map[string]any{"error": "mode must be panic or exit"})
		return
	}
	writeJSON(w, 202, map[string]any{"crashing": mode})
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		if mode == "panic" {
			panic("refsvc: crash requested on /test/crash")
		}
		os.Exit(code)
	}()
}

// logRequests writes exactly one JSON line per request, "msg":"request". The query string is
// not logged: it may carry tokens.
func (s *Service) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.inflight.Add(1)
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		defer func() {
			s.inflight.Add(-1)
			s.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
				"bytes", rec.bytes, "durationMs", time.Since(start).Milliseconds(), "remote", r.RemoteAddr)
		}()
		next.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *statusRecorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
