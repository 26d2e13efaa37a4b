"""The transport tests have teeth: four plausible executor bugs, each re-introduced in a scratch
copy of components/winrm, make both the replay tests (real Windows recordings) and the emulator
tests fail.

The bugs (issue 13): parse only the first Stream of a Receive; read fault codes only from
f:WSManFault (where the old emulator put them); ask for stdout alone in DesiredStream; send
WINRS_CONSOLEMODE_STDIN=TRUE. The scratch tree is a copy of components/ with tests/ and scripts/
linked in, so the same tests import the mutated executor; a control run of the unmutated copy
must pass first. About 30 s in all.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
T = "tests/transport/"
REPLAY = T + "test_replay_conformance.py::"
EMU = T + "test_emulator_strict.py::"

# name: (file under components/winrm, text, replacement, replay tests, emulator tests)
MUTATIONS = {
    "first_stream_only": (
        "winrs.py", 'resp.findall("rsp:Stream", NS)', 'resp.findall("rsp:Stream", NS)[:1]',
        [REPLAY + "test_interleaved_stdout_and_stderr_streams_reach_run_op_joined"],
        [EMU + "test_executor_sends_console_mode_stdin_false"]),
    "fault_code_only_in_wsmanfault": (
        "executor.py", "codes = {exc.wsman_fault_code, exc.wmierror_code}", "codes = {exc.wsman_fault_code}",
        [REPLAY + "test_max_shells_per_user_real_shape_closes_idle_shells_and_recreates_once"],
        [T + "test_executor_faults.py::test_real_max_shells_limit_is_a_clear_error"]),
    "desired_stream_stdout_only": (
        "winrs.py", 'DESIRED_STREAMS = "stdout stderr"', 'DESIRED_STREAMS = "stdout"',
        [REPLAY + "test_clixml_error_on_stderr_is_reported_readably"],
        [EMU + "test_stderr_of_a_failed_command_reaches_the_error"]),
    "console_mode_stdin_true": (
        "executor.py", "console_mode_stdin=False", "console_mode_stdin=True",
        [REPLAY + "test_interleaved_stdout_and_stderr_streams_reach_run_op_joined"],
        [EMU + "test_stderr_of_a_failed_command_reaches_the_error"]),
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp("mutants")
    shutil.copytree(ROOT / "components", root / "components", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("tests", "scripts", "policies"):
        (root / name).symlink_to(ROOT / name)
    shutil.copy(ROOT / "pytest.ini", root / "pytest.ini")
    return root


def _run(root: Path, tests: list[str]) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-rf",
                           "--timeout", "60", *tests], cwd=root, env=env, capture_output=True, text=True, timeout=240)
    return proc.returncode, proc.stdout + proc.stderr


def _all_tests() -> list[str]:
    return sorted({t for m in MUTATIONS.values() for t in m[3] + m[4]})


def test_control_the_unmutated_copy_passes_and_is_the_one_imported(scratch):
    probe = subprocess.run([sys.executable, "-c", "import components.winrm.winrs as w; print(w.__file__)"],
                           cwd=scratch, capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")})
    assert probe.stdout.strip().startswith(str(scratch)), probe.stdout + probe.stderr
    rc, out = _run(scratch, _all_tests())
    assert rc == 0, out[-3000:]


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_fails_replay_and_emulator_tests(scratch, name):
    rel, old, new, replay, emulator = MUTATIONS[name]
    path = scratch / "components" / "winrm" / rel
    original = path.read_text()
    assert original.count(old) == 1, f"{name}: the mutated text is no longer in {rel} exactly once; update MUTATIONS"
    path.write_text(original.replace(old, new))
    try:
        rc, out = _run(scratch, replay + emulator)
    finally:
        path.write_text(original)
    failed = set(re.findall(r"^FAILED (\S+)", out, flags=re.M))
    assert rc != 0, f"{name} survived:\n{out[-2000:]}"
    for test in replay + emulator:
        assert any(f.split(" ")[0] == test or f.startswith(test + "[") for f in failed), \
            f"{name}: {test} did not fail\n{out[-2000:]}"
