package refsvc

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is everything the service reads: the environment winfleet sets (docs/writing-a-go-service.md)
// and two test-only switches. Nothing else configures it.
type Config struct {
	Port          int           // WINFLEET_PORT
	HealthPath    string        // WINFLEET_HEALTH_PATH (liveness)
	ReadinessPath string        // WINFLEET_READINESS_PATH
	Drain         time.Duration // WINFLEET_DRAIN_SECONDS: keep serving this long after a stop request
	LogDir        string        // WINFLEET_LOG_DIR
	LogMaxSize    int64         // WINFLEET_LOG_MAX_SIZE_BYTES
	LogMaxFiles   int           // WINFLEET_LOG_MAX_FILES
	SecretsFile   string        // WINFLEET_SECRETS_FILE (optional)
	EventSource   string        // WINFLEET_EVENT_SOURCE (optional; default: the service name)
	GoTraceback   string        // GOTRACEBACK as winfleet set it (the runtime reads it; we only report it)

	ListenHost    string        // REFSVC_LISTEN_HOST: "" = every interface (the LB probe comes from outside)
	TestEndpoints bool          // REFSVC_TEST_ENDPOINTS=1 enables /test/crash: never in production
	Warmup        time.Duration // REFSVC_WARMUP_MS: readiness stays 503 this long after the start
	// REFSVC_TEST_ACCEPTED (only with REFSVC_TEST_ENDPOINTS=1): accept only these controls, e.g.
	// "stop,shutdown", to show what winfleet's PreShutdown check does with a service that lacks it.
	Accepted []string

	// ShutdownGrace bounds http.Server.Shutdown after the drain: requests still in flight then
	// are cut. Not configurable: the drain is the time for in-flight requests to finish.
	ShutdownGrace time.Duration
}

// ConfigError names the variable and what is allowed.
type ConfigError struct{ Var, Value, Allowed string }

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s=%q: %s", e.Var, e.Value, e.Allowed)
}

// FromEnv reads the configuration. defaultLogDir is used when WINFLEET_LOG_DIR is unset (a manual run).
func FromEnv(getenv func(string) string, defaultLogDir string) (Config, error) {
	c := Config{ShutdownGrace: 5 * time.Second}
	var err error
	num := func(name string, def, lo, hi int64) int64 {
		v := strings.TrimSpace(getenv(name))
		if v == "" || err != nil {
			return def
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < lo || n > hi {
			err = &ConfigError{name, v, fmt.Sprintf("an integer in %d..%d", lo, hi)}
			return def
		}
		return n
	}
	path := func(name, def string) string {
		v := getenv(name)
		if v == "" {
			return def
		}
		if err == nil && (!strings.HasPrefix(v, "/") || strings.ContainsAny(v, " ?#\x00")) {
			err = &ConfigError{name, v, "a URL path starting with '/', without spaces, '?' or '#'"}
		}
		return v
	}
	c.Port = int(num("WINFLEET_PORT", 8080, 1, 65535))
	c.HealthPath = path("WINFLEET_HEALTH_PATH", "/healthz")
	c.ReadinessPath = path("WINFLEET_READINESS_PATH", "/readyz")
	c.Drain = time.Duration(num("WINFLEET_DRAIN_SECONDS", 5, 0, 3600)) * time.Second
	c.LogDir = getenv("WINFLEET_LOG_DIR")
	if c.LogDir == "" {
		c.LogDir = defaultLogDir
	}
	c.LogMaxSize = num("WINFLEET_LOG_MAX_SIZE_BYTES", 10<<20, 4096, 1<<40)
	c.LogMaxFiles = int(num("WINFLEET_LOG_MAX_FILES", 5, 1, 10000))
	c.SecretsFile = getenv("WINFLEET_SECRETS_FILE")
	c.EventSource = getenv("WINFLEET_EVENT_SOURCE")
	c.GoTraceback = getenv("GOTRACEBACK")
	c.ListenHost = getenv("REFSVC_LISTEN_HOST")
	c.TestEndpoints = getenv("REFSVC_TEST_ENDPOINTS") == "1"
	c.Warmup = time.Duration(num("REFSVC_WARMUP_MS", 0, 0, 600000)) * time.Millisecond
	c.Accepted = AcceptedControls
	if v := getenv("REFSVC_TEST_ACCEPTED"); v != "" && c.TestEndpoints {
		c.Accepted = nil
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(strings.ToLower(x)); x != "" {
				c.Accepted = append(c.Accepted, x)
			}
		}
	}
	if err == nil && c.HealthPath == c.ReadinessPath {
		err = &ConfigError{"WINFLEET_READINESS_PATH", c.ReadinessPath, "must differ from WINFLEET_HEALTH_PATH"}
	}
	return c, err
}
