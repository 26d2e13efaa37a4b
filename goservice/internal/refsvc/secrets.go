package refsvc

import (
	"encoding/json"
	"fmt"
	"os"
)

// Secrets are the values of WINFLEET_SECRETS_FILE: a JSON object {"NAME": "value", ...} that
// winfleet writes in the service's data folder, readable only by the service account,
// Administrators and SYSTEM. Their values are never logged: String and the log lines show names only.
type Secrets struct{ m map[string]string }

// ReadSecrets reads the file; an empty path means no secrets.
func ReadSecrets(path string) (Secrets, error) {
	if path == "" {
		return Secrets{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// the error names the path only: os errors never contain the file's content
		return Secrets{}, fmt.Errorf("WINFLEET_SECRETS_FILE: %w", err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		// not err.Error(): a json syntax error can quote part of the input
		return Secrets{}, fmt.Errorf("WINFLEET_SECRETS_FILE %s: not a JSON object of strings", path)
	}
	return Secrets{m: m}, nil
}

// Get returns a secret's value.
func (s Secrets) Get(name string) (string, bool) { v, ok := s.m[name]; return v, ok }

// Names lists the names (safe to log).
func (s Secrets) Names() []string {
	out := make([]string, 0, len(s.m))
	for k := range s.m {
		out = append(out, k)
	}
	return out
}

func (s Secrets) String() string { return fmt.Sprintf("Secrets(%d names)", len(s.m)) }
