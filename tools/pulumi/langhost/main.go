// Command pulumi-language-python is winfleet's own Python language host for the Pulumi CLI.
//
// Why it exists: the Go module proxy refuses the upstream language host module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, see tools/pulumi/README.md for
// the exact errors), so `make setup` builds this one instead, against the same sdk/v3 as the CLI.
// It is a small pulumirpc.LanguageRuntime server with the behaviour the CLI relies on:
//
//   - Run: the project's virtualenv python runs pulumi-language-python-exec (shipped in sdk/v3,
//     copied beside this binary by `make setup`) with the monitor/engine addresses, project, stack,
//     dry-run and parallelism; config and secret keys travel in PULUMI_CONFIG(_SECRET_KEYS).
//     Exit code 32 means the program already showed its error (bail).
//   - RunPlugin: a Python plugin directory (the CrossGuard policy pack: PulumiPolicy.yaml names the
//     virtualenv) runs as `python -u <dir> <args>`, its stdout/stderr streamed back to the engine.
//   - InstallDependencies: creates the virtualenv and pip-installs requirements.txt when missing.
//   - GetRequiredPlugins/Packages: none. Plugins are never downloaded here; the engine loads the
//     ones a program registers resources with (the dynamic provider's, beside the CLI) on demand.
//   - Handshake, GetPluginInfo, About, GetProgramDependencies, RuntimeOptionsPrompts, Template,
//     Cancel: the plain answers.
//
// Only the pip toolchain is supported (what winfleet's Pulumi.yaml uses).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// bailExitCode: pulumi-language-python-exec exits with it after printing a user-actionable error.
const bailExitCode = 32

func main() {
	// The engine passes logging/tracing flags before the engine address (positional, last).
	// (--logtostderr and -v are glog's, registered by the sdk's logging package.)
	for _, name := range []string{"tracing", "root"} {
		if flag.Lookup(name) == nil {
			flag.String(name, "", "accepted, unused")
		}
	}
	flag.Parse()
	engine := ""
	if flag.NArg() > 0 {
		engine = flag.Arg(0)
	}
	self, err := os.Executable()
	if err != nil {
		fatal("%v", err)
	}
	host := &langHost{engineAddress: engine, binDir: filepath.Dir(self)}
	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fatal("could not start the language host RPC server: %v", err)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fatal("language host RPC server stopped: %v", err)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python (winfleet): "+format+"\n", args...)
	os.Exit(1)
}

type langHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	mu            sync.Mutex
	engineAddress string
	binDir        string
}

func (h *langHost) Handshake(ctx context.Context, req *pulumirpc.LanguageHandshakeRequest) (
	*pulumirpc.LanguageHandshakeResponse, error,
) {
	h.mu.Lock()
	h.engineAddress = req.GetEngineAddress()
	h.mu.Unlock()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *langHost) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

// python resolves the interpreter a program or plugin runs with: the virtualenv named by the
// project's runtime options (relative to the project root), else python3 on PATH.
type python struct {
	exe        string
	virtualenv string // "" when none is configured
}

func resolvePython(info *pulumirpc.ProgramInfo) (python, error) {
	opts := map[string]any{}
	if info != nil && info.GetOptions() != nil {
		opts = info.GetOptions().AsMap()
	}
	if tc, ok := opts["toolchain"].(string); ok && tc != "" && tc != "pip" {
		return python{}, fmt.Errorf("runtime option toolchain: %q is not supported by winfleet's language host "+
			"(only \"pip\"); set `toolchain: pip` in Pulumi.yaml", tc)
	}
	venv, _ := opts["virtualenv"].(string)
	if venv == "" {
		venv = os.Getenv("PULUMI_PYTHON_VIRTUALENV")
	}
	if venv == "" {
		exe, err := exec.LookPath("python3")
		if err != nil {
			return python{}, errors.New("no virtualenv configured and no python3 on PATH")
		}
		return python{exe: exe}, nil
	}
	if !filepath.IsAbs(venv) && info != nil {
		venv = filepath.Join(info.GetRootDirectory(), venv)
	}
	exe := filepath.Join(venv, "bin", "python")
	if runtime.GOOS == "windows" {
		exe = filepath.Join(venv, "Scripts", "python.exe")
	}
	return python{exe: exe, virtualenv: venv}, nil
}

func (p python) check() error {
	if _, err := os.Stat(p.exe); err != nil {
		return fmt.Errorf("the virtualenv %s has no python (%v): run `make setup` (or `pulumi install`)", p.virtualenv, err)
	}
	return nil
}

// env is the environment a child python runs in: ours, plus the virtualenv activated.
func (p python) env(extra ...string) []string {
	env := os.Environ()
	if p.virtualenv != "" {
		bin := filepath.Dir(p.exe)
		env = setEnv(env, "VIRTUAL_ENV", p.virtualenv)
		env = setEnv(env, "PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		env = unsetEnv(env, "PYTHONHOME")
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		env = setEnv(env, k, v)
	}
	return env
}

func setEnv(env []string, key, value string) []string {
	return append(unsetEnv(env, key), key+"="+value)
}

func unsetEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func (h *langHost) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest) (
	*pulumirpc.GetRequiredPluginsResponse, error,
) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *langHost) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest) (
	*pulumirpc.GetRequiredPackagesResponse, error,
) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *langHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	py, err := resolvePython(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if err := py.check(); err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	execScript := filepath.Join(h.binDir, "pulumi-language-python-exec")
	if _, err := os.Stat(execScript); err != nil {
		return nil, fmt.Errorf("pulumi-language-python-exec is missing beside the language host (%v): run `make setup`", err)
	}
	program := req.GetProgram()
	if info := req.GetInfo(); info != nil {
		program = filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	}
	args := []string{"-u", execScript,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engine(),
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run=" + strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
	}
	if req.GetOrganization() != "" {
		args = append(args, "--organization", req.GetOrganization())
	}
	if info := req.GetInfo(); info != nil && info.GetRootDirectory() != "" {
		args = append(args, "--root_directory", info.GetRootDirectory())
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(py.exe, args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = py.env("PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON))
	// The program's output is the engine's to show: it reads this process's stdout/stderr.
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not start %s: %v", py.exe, err)}, nil
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Signal(syscall.SIGINT) })
	defer stop()
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == bailExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d",
				exitErr.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

func (h *langHost) GetPluginInfo(ctx context.Context, _ *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *langHost) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	py, err := resolvePython(req.GetInfo())
	if err != nil {
		return err
	}
	out := &streamWriter{send: func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b})
	}}
	errw := &streamWriter{send: func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b})
	}}
	root := req.GetInfo().GetRootDirectory()
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(server.Context(), name, args...)
		cmd.Dir = root
		cmd.Env = py.env()
		cmd.Stdout, cmd.Stderr = out, errw
		return cmd.Run()
	}
	if py.virtualenv == "" {
		_, _ = fmt.Fprintln(out, "no virtualenv configured: nothing to install")
		return nil
	}
	if py.check() != nil {
		base, err := exec.LookPath("python3")
		if err != nil {
			return errors.New("python3 is not on PATH: cannot create the virtualenv")
		}
		if err := run(base, "-m", "venv", py.virtualenv); err != nil {
			return fmt.Errorf("creating the virtualenv %s: %w", py.virtualenv, err)
		}
	}
	reqs := filepath.Join(root, "requirements.txt")
	if _, err := os.Stat(reqs); err == nil {
		if err := run(py.exe, "-m", "pip", "install", "-r", reqs); err != nil {
			return fmt.Errorf("pip install -r %s: %w", reqs, err)
		}
	}
	return nil
}

// streamWriter sends each Write to a gRPC stream.
type streamWriter struct {
	mu   sync.Mutex
	send func([]byte) error
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.send(append([]byte(nil), p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *langHost) RuntimeOptionsPrompts(ctx context.Context, req *pulumirpc.RuntimeOptionsRequest) (
	*pulumirpc.RuntimeOptionsResponse, error,
) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *langHost) Template(ctx context.Context, req *pulumirpc.TemplateRequest) (*pulumirpc.TemplateResponse, error) {
	return &pulumirpc.TemplateResponse{}, nil
}

func (h *langHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	py, err := resolvePython(req.GetInfo())
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, py.exe, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", py.exe, err)
	}
	v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "Python"))
	meta := map[string]string{"toolchain": "pip", "langhost": "winfleet"}
	if py.virtualenv != "" {
		meta["virtualenv"] = py.virtualenv
	}
	return &pulumirpc.AboutResponse{Executable: py.exe, Version: v, Metadata: meta}, nil
}

func (h *langHost) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest) (
	*pulumirpc.GetProgramDependenciesResponse, error,
) {
	py, err := resolvePython(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := py.check(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, py.exe, "-m", "pip", "list", "--format=json", "--disable-pip-version-check")
	cmd.Env = py.env()
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pip list: %w", err)
	}
	var pkgs []struct{ Name, Version string }
	if err := json.Unmarshal(out, &pkgs); err != nil {
		return nil, fmt.Errorf("parsing pip list: %w", err)
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, p := range pkgs {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return resp, nil
}

// RunPlugin runs a Python plugin directory (a policy pack, a Python provider) with its virtualenv.
// `python -u`: the policy SDK writes its port to stdout without flushing.
func (h *langHost) RunPlugin(req *pulumirpc.RunPluginRequest,
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	info := req.GetInfo()
	if info == nil {
		return status.Error(codes.InvalidArgument, "RunPlugin needs the plugin's program info")
	}
	py, err := resolvePython(info)
	if err != nil {
		return err
	}
	if err := py.check(); err != nil {
		return err
	}
	program := filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	cmd := exec.Command(py.exe, append([]string{"-u", program}, req.GetArgs()...)...)
	cmd.Dir = req.GetPwd()
	cmd.Env = py.env()
	if len(req.GetEnv()) > 0 {
		cmd.Env = py.env(req.GetEnv()...)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not start %s: %w", py.exe, err)
	}
	// The engine cancels the stream to stop the plugin.
	stop := context.AfterFunc(server.Context(), func() { _ = cmd.Process.Kill() })
	defer stop()
	var sendMu sync.Mutex
	send := func(r *pulumirpc.RunPluginResponse) {
		sendMu.Lock()
		defer sendMu.Unlock()
		_ = server.Send(r)
	}
	var wg sync.WaitGroup
	pump := func(r io.Reader, wrap func([]byte) *pulumirpc.RunPluginResponse) {
		defer wg.Done()
		br := bufio.NewReader(r)
		buf := make([]byte, 32*1024)
		for {
			n, err := br.Read(buf)
			if n > 0 {
				send(wrap(append([]byte(nil), buf[:n]...)))
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(stdout, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	})
	go pump(stderr, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	})
	wg.Wait()
	code := 0
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return err
		}
		code = exitErr.ExitCode()
	}
	send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
	return nil
}

func (h *langHost) Cancel(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
