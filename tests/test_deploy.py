"""deploy/ (issue 16): the systemd units pass `systemd-analyze verify`, the wrapper is POSIX sh and
really pays, settles and reports against the sandbox BuyPower, and the crontab line parses and runs.

The wrapper runs as a process of its own, as systemd or cron starts it, with buypower-tui as a
program (a shim running this interpreter's `-m buypower_tui`), a private home and a sandbox
BuyPower in this process. `date` is faked on PATH where the month matters."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from buypower_tui import secrets
from buypower_tui.cli import main
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from tests.engine_helpers import assert_ledger_matches_store

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
WRAPPER = DEPLOY / "buypower-unattended.sh"
SYSTEM_UNITS = (DEPLOY / "buypower-unattended.service", DEPLOY / "buypower-unattended.timer")
USER_UNITS = (DEPLOY / "user" / "buypower-unattended.service", DEPLOY / "user" / "buypower-unattended.timer")
GUARD = 180  # seconds: only so that a wrapper that hangs fails its test instead of hanging the suite

# the fixture meters (`buypower-tui sandbox --list-meters`)
OK_IKEJA, OK_EKO = "04271892301", "62010000001"
PENDING_THEN_SUCCESS, VENDED_THEN_500 = "55500000001", "55500000003"


# -- the units ------------------------------------------------------------------------------------

def unit_lines(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every setting; keys repeat in unit files, so no configparser."""
    section, out = "", []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def settings_of(path: Path, section: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for sec, key, value in unit_lines(path):
        if sec == section:
            found.setdefault(key, []).append(value)
    return found


def copy_units(units: tuple[Path, ...], into: Path) -> list[Path]:
    """The units in a folder of their own, ExecStart pointing at the wrapper of this tree:
    `systemd-analyze verify` refuses a unit whose program is not there, and the units name
    where it is installed (/usr/local/bin, ~/.local/bin), not this checkout."""
    into.mkdir()
    wrapper = into / "buypower-unattended"
    shutil.copy(WRAPPER, wrapper)
    wrapper.chmod(0o755)
    copies = []
    for unit in units:
        text = re.sub(r"(?m)^ExecStart=.*$", f"ExecStart={wrapper}", unit.read_text())
        (copy := into / unit.name).write_text(text)
        copies.append(copy)
    return copies


@pytest.mark.parametrize("scope", ["system", "user"])
def test_units_pass_systemd_analyze_verify(scope, tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian: package systemd)")
    units = copy_units(SYSTEM_UNITS if scope == "system" else USER_UNITS, tmp_path / "units")
    env = dict(os.environ)
    argv = [tool, "verify"]
    if scope == "user":  # a user manager needs a runtime folder, as under a login
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        argv.append("--user")
    done = subprocess.run([*argv, *map(str, units)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    # an unknown or misspelt setting is only a warning (exit 0): none may be said about our units
    ours = [line for line in done.stderr.splitlines() if "buypower-unattended" in line or str(tmp_path) in line]
    assert ours == [], done.stderr


def test_the_system_service_is_hardened_and_reads_the_key_from_a_root_only_file():
    svc = settings_of(SYSTEM_UNITS[0], "Service")
    assert svc["Type"] == ["oneshot"]
    assert svc["User"] == ["buypower"] and svc["Group"] == ["buypower"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "UMask": "0077", "StateDirectoryMode": "0700"}.items():
        assert svc[key] == [value], key
    writable = " ".join(svc["ReadWritePaths"]).split()
    assert "/var/lib/buypower-tui" in writable
    assert "-/var/lib/node_exporter/textfile_collector" in writable
    assert svc["EnvironmentFile"] == ["/etc/buypower-tui/unattended.env"]  # no "-": a missing file stops it
    assert "BUYPOWER_TUI_HOME=/var/lib/buypower-tui" in svc["Environment"]
    # the key is in the 0600 file, under the name the app reads, never in a unit (world-readable,
    # and `systemctl show` prints Environment= to anyone)
    example = (DEPLOY / "unattended.env.example").read_text()
    assert re.search(rf"(?m)^{secrets.ENV_VAR}=$", example)
    for unit in (*SYSTEM_UNITS, *USER_UNITS):
        assert not [s for s in unit_lines(unit) if secrets.ENV_VAR in s[2]], unit
    user = settings_of(USER_UNITS[0], "Service")
    assert user["UMask"] == ["0077"] and user["NoNewPrivileges"] == ["yes"]
    assert user["EnvironmentFile"] == ["%h/.config/buypower-tui/unattended.env"]
    assert "User" not in user  # a user manager runs it as its own user


@pytest.mark.parametrize("timer", [SYSTEM_UNITS[1], USER_UNITS[1]], ids=["system", "user"])
def test_the_timer_catches_up_on_missed_firings(timer):
    t = settings_of(timer, "Timer")
    assert t["Persistent"] == ["true"]
    assert t["RandomizedDelaySec"]
    assert settings_of(timer, "Install")["WantedBy"] == ["timers.target"]
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed: OnCalendar not checked")
    for spec in t["OnCalendar"]:
        done = subprocess.run([tool, "calendar", spec], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr


def test_the_wrapper_is_posix_sh():
    shells = ["sh"] + [s for s in ("dash", "posh") if shutil.which(s)]  # dash: Debian's /bin/sh, strict
    for shell in shells:
        done = subprocess.run([shell, "-n", str(WRAPPER)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, (shell, done.stderr)
    assert WRAPPER.read_text().startswith("#!/bin/sh\n")
    assert os.access(WRAPPER, os.X_OK)
    assert "--accept-duplicates" not in WRAPPER.read_text()  # never accepted unseen (README: Operations)


def test_the_wrapper_passes_shellcheck():
    tool = shutil.which("shellcheck")
    if tool is None:
        pytest.skip("shellcheck is not installed (Debian: package shellcheck)")
    done = subprocess.run([tool, "--shell=sh", str(WRAPPER)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


# -- crontab ----------------------------------------------------------------------------------------

CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def cron_entries() -> list[tuple[list[str], str]]:
    """(the 5 time fields, the command) of every active line; VAR=value lines are not entries."""
    entries = []
    for line in (DEPLOY / "crontab.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or re.match(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=", line):
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, f"not 5 fields and a command: {line!r}"
        entries.append((fields[:5], fields[5]))
    return entries


def test_the_crontab_example_parses():
    entries = cron_entries()
    assert len(entries) == 1
    (fields, command), = entries
    for field, (low, high) in zip(fields, CRON_RANGES, strict=True):
        assert CRON_FIELD.match(field), field
        for number in map(int, re.findall(r"\d+", field.split("/")[0])):
            assert low <= number <= high, field
    assert "%" not in command  # cron turns % into a newline
    words = shlex.split(command.replace(";", " ; "))
    assert "flock" in words and "-n" in words  # no two at once
    assert ">>" in command and "2>&1" in command  # everything said goes to the log
    assert command.startswith("umask 077;")  # the log is the user's only
    assert "buypower-unattended" in command


# -- the wrapper against the sandbox ----------------------------------------------------------------

def metrics_available() -> bool:
    done = subprocess.run([sys.executable, "-m", "buypower_tui", "metrics", "--help"], capture_output=True,
                          timeout=60)
    return done.returncode == 0


@pytest.fixture(scope="module")
def has_metrics() -> bool:
    return metrics_available()


@pytest.fixture
def sandbox():
    with SandboxServer(SandboxConfig(seed=16, requery_cooldown_s=0, delay=(0,))) as server:
        yield server


@pytest.fixture
def bin_dir(tmp_path) -> Path:
    """buypower-tui as a program, and a `date` that says the month and day the test wants
    (FAKE_MONTH, FAKE_DAY) and leaves every other format to the real one."""
    folder = tmp_path / "bin"
    folder.mkdir()
    shim = folder / "buypower-tui"
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m buypower_tui \"$@\"\n")
    shim.chmod(0o755)
    real_date = shutil.which("date")
    fake = folder / "date"
    fake.write_text("#!/bin/sh\n"
                    'case "$1" in\n'
                    '    +%Y-%m) [ -n "${FAKE_MONTH:-}" ] && { echo "$FAKE_MONTH"; exit 0; } ;;\n'
                    '    +%d) [ -n "${FAKE_DAY:-}" ] && { echo "$FAKE_DAY"; exit 0; } ;;\n'
                    "esac\n"
                    f'exec {shlex.quote(str(real_date))} "$@"\n')
    fake.chmod(0o755)
    return folder


class Unattended:
    """Runs the wrapper as systemd would: its settings in the environment, no terminal."""

    def __init__(self, sandbox: SandboxServer, tmp_path: Path, bin_dir: Path, metrics: bool) -> None:
        self.sandbox, self.tmp, self.bin = sandbox, tmp_path, bin_dir
        self.state = tmp_path / "state"
        textfile = tmp_path / "textfile_collector"
        textfile.mkdir()
        self.metrics = textfile / "buypower.prom" if metrics else None
        self.env = dict(os.environ,
                        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
                        BUYPOWER_TUI=str(bin_dir / "buypower-tui"),
                        BUYPOWER_MODE="sandbox", BUYPOWER_BASE_URL=sandbox.url,
                        BUYPOWER_SANDBOX_API_KEY=sandbox.key, BUYPOWER_RATE_LIMIT="0",
                        BUYPOWER_REQUERY_FIRST_WAIT="0.1", BUYPOWER_REQUERY_MAX_WAIT="1",
                        UNATTENDED_STATE_DIR=str(self.state), UNATTENDED_WAIT_PENDING="0",
                        UNATTENDED_REQUERY_EVERY="0", UNATTENDED_REQUERY_TIMES="10",
                        UNATTENDED_METRICS_FILE=str(self.metrics or ""))
        self.env.pop("BUYPOWER_API_KEY", None)

    def __call__(self, **settings: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **settings}
        return subprocess.run([str(WRAPPER)], env=env, capture_output=True, text=True, timeout=GUARD,
                              stdin=subprocess.DEVNULL)


@pytest.fixture
def unattended(sandbox, tmp_path, bin_dir, has_metrics) -> Unattended:
    return Unattended(sandbox, tmp_path, bin_dir, has_metrics)


def import_sheet(sandbox, tmp_path, name: str, *rows: tuple[str, str, int]) -> None:
    sheet = tmp_path / f"{name}.csv"
    sheet.write_text("meter,disco,amount,phone\n" + "".join(f"{m},{d},{a},08031234567\n" for m, d, a in rows))
    assert main(["--sandbox", sandbox.url, "import", str(sheet), "--name", name]) == 0


def batches() -> list[dict]:
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        return [{"id": b.id, "name": b.name, "states": store.stats(b.id).by_state} for b in store.batches()]
    finally:
        store.close()


def check_ledger(sandbox, *batch_ids: int) -> None:
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        assert_ledger_matches_store(sandbox.ledger.snapshot(), store, batch_ids)
    finally:
        store.close()


def check_metrics(u: Unattended, has_metrics: bool) -> dict[str, float]:
    """The file node_exporter reads: whole, of the mode it needs, parsed by prometheus_client."""
    if not has_metrics:
        pytest.skip("metrics not available (`buypower-tui metrics` is not there yet)")
    assert u.metrics is not None and u.metrics.is_file()
    assert stat.S_IMODE(u.metrics.stat().st_mode) == 0o644  # node_exporter runs as another user
    assert [p.name for p in u.metrics.parent.iterdir()] == ["buypower.prom"]  # nothing left half-made
    parser = pytest.importorskip("prometheus_client.parser")
    values = {}
    for family in parser.text_string_to_metric_families(u.metrics.read_text()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    assert values and all(name.startswith("buypower_") for name in values)
    return values


def test_the_monthly_routine_pays_each_month_once_and_settles(sandbox, tmp_path, unattended, has_metrics):
    """November's firing makes "monthly 2026-11" from the base batch, pays it and requeries the
    pending rows until settled (exit 0); a second firing in November pays nothing; December's
    batch is made from November's, and its meters, paid minutes ago, are left unpaid as
    duplicates (exit 3): nothing is paid twice."""
    import_sheet(sandbox, tmp_path, "estate", (OK_IKEJA, "IKEJA", 1000), (PENDING_THEN_SUCCESS, "ABUJA", 2000),
                 (VENDED_THEN_500, "ABUJA", 1500), (OK_EKO, "EKO", 2500))

    done = unattended(UNATTENDED_REPEAT_FROM="1", FAKE_MONTH="2026-11", FAKE_DAY="03")
    assert done.returncode == 0, done.stderr
    assert 'making this month\'s batch "monthly 2026-11" from batch 1' in done.stderr
    assert "requery 1 of at most 10" in done.stderr  # the run left rows pending (--wait-pending 0)
    assert "exit 0: settled" in done.stderr
    (base, november) = batches()
    assert november["name"] == "monthly 2026-11" and november["states"] == {"SUCCESS": 4}
    assert base["states"] == {"VALID": 4}  # the base batch itself is never paid
    check_ledger(sandbox, november["id"])
    assert (unattended.state / f"ran-batch-{november['id']}").is_file()
    paid = len(sandbox.ledger.vends())
    assert paid == 4

    again = unattended(UNATTENDED_REPEAT_FROM="1", FAKE_MONTH="2026-11", FAKE_DAY="20")
    assert again.returncode == 0, again.stderr
    assert f"this month's batch is {november['id']}" in again.stderr
    assert f"batch {november['id']} was run on" in again.stderr
    assert "buypower-tui run" not in again.stderr and len(batches()) == 2
    assert len(sandbox.ledger.vends()) == paid

    december = unattended(UNATTENDED_REPEAT_FROM="1", FAKE_MONTH="2026-12", FAKE_DAY="01")
    assert december.returncode == 3, december.stderr
    assert f'"monthly 2026-12" from batch {november["id"]}' in december.stderr  # last month's, not the base
    assert "left unpaid" in december.stderr
    assert [b["name"] for b in batches()] == ["estate", "monthly 2026-11", "monthly 2026-12"]
    assert batches()[2]["states"] == {"VERIFIED": 4}
    assert len(sandbox.ledger.vends()) == paid  # the duplicate guard holds without a person

    values = check_metrics(unattended, has_metrics)
    assert values["buypower_rows{state=SUCCESS}"] == 4 and values["buypower_rows{state=VERIFIED}"] == 4
    assert values["buypower_pending_rows{}"] == 0


def test_before_the_pay_day_nothing_is_made_and_pending_rows_are_requeried(sandbox, tmp_path, unattended):
    import_sheet(sandbox, tmp_path, "estate", (OK_IKEJA, "IKEJA", 1000))
    done = unattended(UNATTENDED_REPEAT_FROM="1", UNATTENDED_PAY_DAY="25", FAKE_MONTH="2026-11", FAKE_DAY="24")
    assert done.returncode == 0, done.stderr
    assert "due on day 25; nothing to pay yet" in done.stderr
    assert "requeried: nothing" in done.stdout
    assert len(batches()) == 1 and sandbox.ledger.vends() == []


def test_a_batch_is_paid_once_duplicates_stay_unpaid_and_pending_rows_settle_later(
        sandbox, tmp_path, unattended, has_metrics):
    """UNATTENDED_BATCH: the run skips the duplicate pair; with no requery allowed the pending
    rows stay pending (exit 3); the next firing does not run the batch again but requeries it:
    pending rows settle, the duplicates are still unpaid (exit 3) and never sent."""
    import_sheet(sandbox, tmp_path, "march", (OK_IKEJA, "IKEJA", 1000), (PENDING_THEN_SUCCESS, "ABUJA", 2000),
                 (OK_EKO, "EKO", 1500), (OK_EKO, "EKO", 1500))
    first = unattended(UNATTENDED_BATCH="1", UNATTENDED_REQUERY_TIMES="0")
    assert first.returncode == 3, first.stderr
    assert "rows still pending after 0 requeries" in first.stderr
    assert batches()[0]["states"] == {"SUCCESS": 1, "PENDING": 1, "VERIFIED": 2}

    second = unattended(UNATTENDED_BATCH="1")
    assert second.returncode == 3, second.stderr
    assert "batch 1 was run on" in second.stderr and "buypower-tui run" not in second.stderr
    assert batches()[0]["states"] == {"SUCCESS": 2, "VERIFIED": 2}
    assert OK_EKO not in {v["meter"] for v in sandbox.ledger.vends()}
    check_ledger(sandbox, 1)
    check_metrics(unattended, has_metrics)


def test_set_up_problems_exit_2_and_still_write_the_metrics(sandbox, tmp_path, unattended, has_metrics):
    import_sheet(sandbox, tmp_path, "march", (OK_IKEJA, "IKEJA", 1000))
    both = unattended(UNATTENDED_BATCH="1", UNATTENDED_REPEAT_FROM="1")
    assert both.returncode == 2 and "not both" in both.stderr
    no_key = unattended(UNATTENDED_BATCH="1", BUYPOWER_SANDBOX_API_KEY="")
    assert no_key.returncode == 2, no_key.stderr
    assert not (unattended.state / "ran-batch-1").exists()  # refused: tried again at the next firing
    assert sandbox.ledger.vends() == []
    check_metrics(unattended, has_metrics)


def test_metrics_that_cannot_be_written_exit_4(sandbox, unattended, has_metrics):
    if not has_metrics:
        pytest.skip("metrics not available (`buypower-tui metrics` is not there yet)")
    done = unattended(UNATTENDED_METRICS_FILE=str(unattended.tmp / "no-such-folder" / "buypower.prom"))
    assert done.returncode == 4, done.stderr
    assert "exit 4: settled, but the metrics file was not written" in done.stderr


def test_a_stop_while_waiting_for_pending_rows_exits_130_at_once(tmp_path, bin_dir, has_metrics):
    """SIGTERM to the whole process group, as `systemctl stop` does to the unit's processes,
    while the wrapper waits between requeries: it stops at once (not after the wait), writes
    the metrics, and exits 130; the pending row is left for the next firing."""
    with SandboxServer(SandboxConfig(seed=16, requery_cooldown_s=0, delay=(0,), pending_requeries=1000)) as server:
        import_sheet(server, tmp_path, "march", (PENDING_THEN_SUCCESS, "ABUJA", 2000))
        u = Unattended(server, tmp_path, bin_dir, has_metrics)
        env = {**u.env, "UNATTENDED_BATCH": "1", "UNATTENDED_REQUERY_EVERY": "120"}
        proc = subprocess.Popen([str(WRAPPER)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + GUARD
            while not (u.state / "ran-batch-1").exists() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
            time.sleep(3)  # the wrapper has looked at the batch and is waiting
            stopped_at = time.monotonic()
            os.killpg(proc.pid, signal.SIGTERM)
            out, err = proc.communicate(timeout=GUARD)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 130, err
        assert time.monotonic() - stopped_at < 60  # not the 120 s wait
        assert "exit 130: stopped" in err
        assert batches()[0]["states"] == {"PENDING": 1}
    check_metrics(u, has_metrics)


def test_the_crontab_line_runs(sandbox, tmp_path, bin_dir, has_metrics):
    """The active line of crontab.example, run by sh as cron runs it, in a HOME laid out as its
    comments say: it reads the settings file, takes the lock, and appends to a 0600 log."""
    if shutil.which("flock") is None:
        pytest.skip("flock is not installed (Debian: package util-linux)")
    (_, command), = cron_entries()
    home = tmp_path / "cronhome"
    (home / ".local" / "bin").mkdir(parents=True)
    shutil.copy(WRAPPER, home / ".local" / "bin" / "buypower-unattended")
    (home / ".local" / "state" / "buypower-unattended").mkdir(parents=True, mode=0o700)
    (home / ".config" / "buypower-tui").mkdir(parents=True)
    u = Unattended(sandbox, tmp_path, bin_dir, has_metrics)
    settings = home / ".config" / "buypower-tui" / "unattended.env"
    keep = ("BUYPOWER_TUI", "BUYPOWER_MODE", "BUYPOWER_BASE_URL", "BUYPOWER_SANDBOX_API_KEY", "BUYPOWER_TUI_HOME",
            "UNATTENDED_METRICS_FILE", "UNATTENDED_REQUERY_EVERY")
    settings.write_text("".join(f"{k}={u.env[k]}\n" for k in keep) + 'UNATTENDED_NAME="estate monthly"\n')
    settings.chmod(0o600)
    cron_env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "LOGNAME": "nobody"}  # cron's
    done = subprocess.run(["/bin/sh", "-c", command], env=cron_env, capture_output=True, text=True, timeout=GUARD)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout == "" and done.stderr == ""  # all of it went to the log
    log = home / ".local" / "state" / "buypower-unattended" / "unattended.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "exit 0: settled" in log.read_text()
    check_metrics(u, has_metrics)


def test_the_settings_example_reads_alike_in_sh(tmp_path):
    """`. FILE` in sh (cron) gives the values systemd's EnvironmentFile gives for this file."""
    example = DEPLOY / "unattended.env.example"
    done = subprocess.run(["/bin/sh", "-c", 'set -a; . "$1"; set +a; env', "sh", str(example)],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=30)
    assert done.returncode == 0, done.stderr
    seen = dict(line.split("=", 1) for line in done.stdout.splitlines()
                if line.startswith(("UNATTENDED_", "BUYPOWER_")))
    assert seen["UNATTENDED_NAME"] == "monthly" and seen["UNATTENDED_REQUERY_EVERY"] == "300"
    assert seen[secrets.ENV_VAR] == ""
    for line in example.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", name) and " " not in value, line


# -- review 16b: what must not happen unattended ------------------------------------------------------

def launch(u: Unattended, **settings: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(WRAPPER)], env={**u.env, **settings}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def test_two_firings_at_once_never_pay_twice_and_last_months_pending_rows_settle(tmp_path, bin_dir, has_metrics):
    """November: the timer's firing and one started by hand at the same moment, with no duplicate
    window to catch a second payment: each would see no batch for the month, make one and pay it.
    The state folder's lock lets one through; the other says so and exits 2, paying nothing. The
    one that pays leaves a row PENDING (no requery allowed); December's firing pays December's
    batch and requeries every pending row of the store once, so November's row settles. The
    name's runs of spaces are the name the app stores, and "01" is batch 1: December's batch is
    made from November's, not from the base again."""
    shim = bin_dir / "buypower-tui"  # one firing's `repeat` a little slower, as on a loaded machine
    shim.write_text(shim.read_text().replace(
        "exec ", '[ "$1" = repeat ] && [ -n "${SLOW_REPEAT:-}" ] && sleep "$SLOW_REPEAT"\nexec ', 1))
    config = SandboxConfig(seed=16, requery_cooldown_s=0, delay=(0,), latency_ms=100, pending_requeries=1)
    with SandboxServer(config) as server:
        import_sheet(server, tmp_path, "estate", (OK_IKEJA, "IKEJA", 1000), (PENDING_THEN_SUCCESS, "ABUJA", 2000))
        u = Unattended(server, tmp_path, bin_dir, has_metrics)
        s = dict(UNATTENDED_REPEAT_FROM="01", UNATTENDED_NAME="  estate   monthly ", UNATTENDED_REQUERY_TIMES="0")
        november = dict(s, FAKE_MONTH="2026-11", FAKE_DAY="30", BUYPOWER_DUPLICATE_WINDOW_DAYS="0")
        procs = [launch(u, **november), launch(u, SLOW_REPEAT="1", **november)]
        done = [(p, *p.communicate(timeout=GUARD)) for p in procs]
        said = "".join(err for _, _, err in done)
        assert [b["name"] for b in batches()] == ["estate", "estate monthly 2026-11"], said
        assert sorted(p.returncode for p, _, _ in done) == [2, 3], said
        assert said.count("another firing is running (it holds") == 1
        assert sorted(v["meter"] for v in server.ledger.vends()) == [OK_IKEJA, PENDING_THEN_SUCCESS], said
        assert batches()[1]["states"] == {"SUCCESS": 1, "PENDING": 1}

        december = u(**s, FAKE_MONTH="2026-12", FAKE_DAY="01")
        (_, nov, dec) = batches()
        assert nov["states"] == {"SUCCESS": 2}, december.stderr
        assert '"estate monthly 2026-12" from batch 2' in december.stderr
        assert "requerying every pending row of the store" in december.stderr
        assert dec["name"] == "estate monthly 2026-12"
        assert len(server.ledger.vends()) == 2
        check_ledger(server, nov["id"], dec["id"])


def test_a_batch_of_the_other_mode_is_neither_repeated_nor_paid(sandbox, tmp_path, unattended):
    sheet = tmp_path / "live.csv"
    sheet.write_text(f"meter,disco,amount,phone\n{OK_EKO},EKO,1500,08031234567\n")
    assert main(["--live", "import", str(sheet), "--name", "live trial"]) == 0  # batch 1, a live one
    monthly = unattended(UNATTENDED_REPEAT_FROM="1", FAKE_MONTH="2026-11", FAKE_DAY="03")  # BUYPOWER_MODE=sandbox
    assert monthly.returncode == 2, monthly.stderr
    assert "batch 1 is a live batch and buypower-tui is in sandbox mode" in monthly.stderr
    assert "buypower-tui repeat" not in monthly.stderr and [b["name"] for b in batches()] == ["live trial"]
    assert sandbox.ledger.vends() == []


def test_a_run_that_crashed_before_sending_is_run_again(sandbox, tmp_path, unattended):
    """`run` fails unexpectedly (exit 1) before it sends anything, here a keyring that throws:
    the batch is not noted as run, so the next firing pays it."""
    (tmp_path / "boomkr.py").write_text(
        "from keyring.backend import KeyringBackend\n"
        "class Boom(KeyringBackend):\n"
        "    priority = 1\n"
        "    def get_password(self, s, u): raise RuntimeError('dbus: org.freedesktop.DBus.Error.ServiceUnknown')\n"
        "    def set_password(self, s, u, p): raise RuntimeError('locked')\n"
        "    def delete_password(self, s, u): raise RuntimeError('locked')\n")
    import_sheet(sandbox, tmp_path, "march", (OK_IKEJA, "IKEJA", 1000))
    crash = unattended(UNATTENDED_BATCH="1", PYTHONPATH=str(tmp_path), PYTHON_KEYRING_BACKEND="boomkr.Boom")
    assert crash.returncode == 1, crash.stderr
    assert "the run sent nothing (exit 1); the next firing runs it again" in crash.stderr
    assert not (unattended.state / "ran-batch-1").exists() and sandbox.ledger.vends() == []
    again = unattended(UNATTENDED_BATCH="1")
    assert again.returncode == 0, again.stderr
    assert [v["meter"] for v in sandbox.ledger.vends()] == [OK_IKEJA]
    assert (unattended.state / "ran-batch-1").is_file()


def test_a_link_at_the_metrics_file_is_replaced_not_followed(sandbox, tmp_path, unattended, has_metrics):
    if not has_metrics:
        pytest.skip("metrics not available (`buypower-tui metrics` is not there yet)")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert unattended.metrics is not None
    unattended.metrics.symlink_to(elsewhere)
    done = unattended()
    assert done.returncode == 0, done.stderr
    assert not unattended.metrics.is_symlink() and list(elsewhere.iterdir()) == []
    check_metrics(unattended, has_metrics)
