package refsvc

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	return Config{Port: 0, HealthPath: "/healthz", ReadinessPath: "/readyz", Drain: 600 * time.Millisecond,
		LogDir: t.TempDir(), LogMaxSize: 1 << 20, LogMaxFiles: 3, ListenHost: "127.0.0.1",
		ShutdownGrace: 3 * time.Second}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func logLines(t *testing.T, dir string) []map[string]any {
	t.Helper()
	var out []map[string]any
	files, _ := filepath.Glob(filepath.Join(dir, "svc*.log"))
	for _, f := range files {
		if strings.Contains(f, ".crash") {
			continue
		}
		fh, _ := os.Open(f)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("torn log line %q", sc.Text())
			}
			out = append(out, m)
		}
		fh.Close()
	}
	return out
}

func TestEnvironmentContract(t *testing.T) {
	env := map[string]string{"WINFLEET_PORT": "18080", "WINFLEET_HEALTH_PATH": "/live", "WINFLEET_READINESS_PATH": "/ready",
		"WINFLEET_DRAIN_SECONDS": "25", "WINFLEET_LOG_DIR": "/x", "WINFLEET_LOG_MAX_SIZE_BYTES": "1048576",
		"WINFLEET_LOG_MAX_FILES": "7", "GOTRACEBACK": "wer"}
	c, err := FromEnv(func(k string) string { return env[k] }, "/default")
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 18080 || c.HealthPath != "/live" || c.ReadinessPath != "/ready" || c.Drain != 25*time.Second ||
		c.LogDir != "/x" || c.LogMaxSize != 1<<20 || c.LogMaxFiles != 7 || c.GoTraceback != "wer" || c.TestEndpoints {
		t.Fatalf("%+v", c)
	}
	for k, v := range map[string]string{"WINFLEET_PORT": "0", "WINFLEET_DRAIN_SECONDS": "-1",
		"WINFLEET_LOG_MAX_FILES": "x", "WINFLEET_HEALTH_PATH": "healthz", "WINFLEET_READINESS_PATH": "/live"} {
		bad := map[string]string{k: v}
		if k == "WINFLEET_READINESS_PATH" {
			bad["WINFLEET_HEALTH_PATH"] = "/live"
		}
		_, err := FromEnv(func(n string) string { return bad[n] }, "/d")
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Fatalf("%s=%s: want an error naming it, got %v", k, v, err)
		}
	}
	c, _ = FromEnv(func(string) string { return "" }, "/d")
	if c.LogDir != "/d" || c.Port != 8080 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestAcceptedControls(t *testing.T) {
	c, _ := FromEnv(func(string) string { return "" }, "/d")
	if strings.Join(c.Accepted, ",") != "stop,shutdown,preshutdown" {
		t.Fatalf("default accepted controls %v: the SCM handler must accept Stop, Shutdown and PreShutdown", c.Accepted)
	}
	env := map[string]string{"REFSVC_TEST_ACCEPTED": "stop,shutdown"}
	c, _ = FromEnv(func(k string) string { return env[k] }, "/d")
	if len(c.Accepted) != 3 {
		t.Fatalf("REFSVC_TEST_ACCEPTED honoured without REFSVC_TEST_ENDPOINTS=1: %v", c.Accepted)
	}
	env["REFSVC_TEST_ENDPOINTS"] = "1"
	c, _ = FromEnv(func(k string) string { return env[k] }, "/d")
	if strings.Join(c.Accepted, ",") != "stop,shutdown" {
		t.Fatalf("%v", c.Accepted)
	}
}

func TestEventIDsRenderWithEventCreateMessageFile(t *testing.T) {
	for _, id := range EventIDs {
		if id < 1 || id > 1000 {
			t.Fatalf("event id %d outside 1..1000", id)
		}
	}
}

// The drain: readiness is 503 from the first moment of the stop, requests keep being served for
// the drain time, a request in flight at the end finishes, then the server is gone and the exit
// code is 0; the progress checkpoints rise.
func TestStopDrainsThenExitsZero(t *testing.T) {
	cfg := testConfig(t)
	s, f := New(cfg, "svc", "svc")
	if f != nil {
		t.Fatal(f)
	}
	if f := s.Start(); f != nil {
		t.Fatal(f)
	}
	base := "http://" + s.Addr()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if code, _ := get(t, base+"/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("liveness %d %s", code, body)
	}
	// a request that outlives the drain window (600 ms): in flight when Shutdown starts
	var wg sync.WaitGroup
	var longCode int
	var longBody string
	wg.Add(1)
	go func() { defer wg.Done(); longCode, longBody = get(t, base+"/work?ms=1200") }()
	time.Sleep(100 * time.Millisecond)

	var mu sync.Mutex
	var cps []uint32
	exit := make(chan int, 1)
	stopAt := time.Now()
	go func() {
		exit <- s.Stop("test", func(cp uint32, hint time.Duration) {
			mu.Lock()
			cps = append(cps, cp)
			mu.Unlock()
			if hint <= progressTick {
				t.Errorf("wait hint %s does not cover the next checkpoint", hint)
			}
		})
	}()
	time.Sleep(50 * time.Millisecond)
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "draining") {
		t.Fatalf("readiness during drain: %d %s", code, body)
	}
	if code, body := get(t, base+"/work?ms=10"); code != 200 || !strings.Contains(body, `"draining":true`) {
		t.Fatalf("a new request during the drain: %d %s", code, body)
	}
	code := <-exit
	took := time.Since(stopAt)
	wg.Wait()
	if code != ExitOK {
		t.Fatalf("exit code %d after a requested stop", code)
	}
	if longCode != 200 {
		t.Fatalf("the in-flight request did not finish: %d %s", longCode, longBody)
	}
	if took < cfg.Drain {
		t.Fatalf("stopped after %s, before the drain time %s", took, cfg.Drain)
	}
	if c, _ := get(t, base+"/readyz"); c != -1 {
		t.Fatalf("still serving after the stop: %d", c)
	}
	mu.Lock()
	if len(cps) < 2 {
		t.Fatalf("checkpoints %v: want a rising sequence", cps)
	}
	for i := 1; i < len(cps); i++ {
		if cps[i] != cps[i-1]+1 {
			t.Fatalf("checkpoints not rising: %v", cps)
		}
	}
	mu.Unlock()
	// one "request" line per request, and the events
	var requests, events int
	var ids []float64
	for _, l := range logLines(t, cfg.LogDir) {
		switch l["msg"] {
		case "request":
			requests++
			if _, ok := l["status"]; !ok {
				t.Fatalf("request line without status: %v", l)
			}
		case "event":
			events++
			ids = append(ids, l["eventId"].(float64))
		}
	}
	if requests < 5 { // readyz polls + healthz + 2 work + readyz during drain
		t.Fatalf("%d request lines", requests)
	}
	if len(ids) != 3 || ids[0] != float64(EventStarted) || ids[1] != float64(EventStopping) || ids[2] != float64(EventStopped) {
		t.Fatalf("events %v", ids)
	}
	// an orderly stop leaves no running marker and no empty crash file
	if _, err := os.Stat(filepath.Join(cfg.LogDir, "svc.running")); err == nil {
		t.Fatal("running marker left after an orderly stop")
	}
	if _, err := os.Stat(filepath.Join(cfg.LogDir, "svc.crash.log")); err == nil {
		t.Fatal("empty crash file left after an orderly stop")
	}
}

func TestReadinessFalseWhileStarting(t *testing.T) {
	cfg := testConfig(t)
	cfg.Warmup = 400 * time.Millisecond
	s, f := New(cfg, "svc", "svc")
	if f != nil {
		t.Fatal(f)
	}
	if f := s.Start(); f != nil {
		t.Fatal(f)
	}
	defer s.Stop("test", func(uint32, time.Duration) {})
	if code, body := get(t, "http://"+s.Addr()+"/readyz"); code != 503 || !strings.Contains(body, "starting") {
		t.Fatalf("%d %s", code, body)
	}
	time.Sleep(600 * time.Millisecond)
	if code, _ := get(t, "http://"+s.Addr()+"/readyz"); code != 200 {
		t.Fatalf("not ready after the warm-up: %d", code)
	}
	if code, _ := get(t, "http://"+s.Addr()+"/test/crash?mode=exit"); code != 404 {
		t.Fatalf("the crash endpoint answers %d without REFSVC_TEST_ENDPOINTS=1", code)
	}
}

func TestLivenessFailsWhenLogDirIsNotWritable(t *testing.T) {
	cfg := testConfig(t)
	s, f := New(cfg, "svc", "svc")
	if f != nil {
		t.Fatal(f)
	}
	if f := s.Start(); f != nil {
		t.Fatal(f)
	}
	defer s.Stop("test", func(uint32, time.Duration) {})
	// the log directory replaced by a file: nothing can be created in it, whoever we are
	moved := cfg.LogDir + ".moved"
	if err := os.Rename(cfg.LogDir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.LogDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, "http://"+s.Addr()+"/healthz")
	os.Remove(cfg.LogDir)
	os.Rename(moved, cfg.LogDir)
	if code != 503 || !strings.Contains(body, "logDirWritable") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestLivenessFailsWithoutHeadroom(t *testing.T) {
	cfg := testConfig(t)
	cfg.LogMaxSize = 1 << 62 // more than any disk has left
	s, f := New(cfg, "svc", "svc")
	if f != nil {
		t.Fatal(f)
	}
	if f := s.Start(); f != nil {
		t.Fatal(f)
	}
	defer s.Stop("test", func(uint32, time.Duration) {})
	code, body := get(t, "http://"+s.Addr()+"/healthz")
	if code != 503 || !strings.Contains(body, "less than one log file") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestSecretsReadNeverLogged(t *testing.T) {
	cfg := testConfig(t)
	cfg.SecretsFile = filepath.Join(t.TempDir(), "secrets.json")
	os.WriteFile(cfg.SecretsFile, []byte(`{"DB_PASSWORD":"hunter2-s3cret"}`), 0o600)
	s, f := New(cfg, "svc", "svc")
	if f != nil {
		t.Fatal(f)
	}
	if v, ok := s.secrets.Get("DB_PASSWORD"); !ok || v != "hunter2-s3cret" {
		t.Fatal("secret not read")
	}
	if f := s.Start(); f != nil {
		t.Fatal(f)
	}
	s.Stop("test", func(uint32, time.Duration) {})
	files, _ := filepath.Glob(filepath.Join(cfg.LogDir, "*"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "hunter2") {
			t.Fatalf("secret value in %s", p)
		}
	}
	// a malformed file fails the start, without quoting it
	os.WriteFile(cfg.SecretsFile, []byte(`{"DB_PASSWORD": hunter2-s3cret}`), 0o600)
	cfg.LogDir = t.TempDir()
	_, f = New(cfg, "svc", "svc")
	if f == nil || f.Code != ExitSecrets || strings.Contains(f.Error(), "hunter2") {
		t.Fatalf("%v", f)
	}
}

func TestPortInUseIsARealFailure(t *testing.T) {
	cfg := testConfig(t)
	a, _ := New(cfg, "svc", "svc")
	if f := a.Start(); f != nil {
		t.Fatal(f)
	}
	defer a.Stop("test", func(uint32, time.Duration) {})
	cfg2 := testConfig(t)
	_, port, _ := strings.Cut(a.Addr(), ":")
	cfg2.Port = atoi(port)
	b, _ := New(cfg2, "svc", "svc")
	f := b.Start()
	if f == nil || f.Code != ExitListen {
		t.Fatalf("%v", f)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
