"""Shared plumbing of winfleet's host resources (Pulumi dynamic resources over WinRM).

How to write a host resource
============================

A resource is three pieces: an input model, a provider (a ``HostResourceProvider`` subclass that
implements a DSC-like Get/Test/Set triad plus restore), and a ``HostResource`` subclass that gives
it its type token. Everything else — check, diff, create/update/delete/read, the host journal,
locking, secrets — lives here::

    class EventLogSettingsInputs(HostInputs):          # pydantic v2, camelCase aliases, extra=forbid
        logs: list[LogSpec]                              # `connection` is inherited

    class EventLogSettingsProvider(HostResourceProvider):
        kind = "EventLogSettings"                        # token name, journal key prefix
        model = EventLogSettingsInputs
        replace_keys = ()                                # camelCase input names whose change = replace
        delete_before_replace = False                    # True when old and new cannot coexist

        def journal_scope(self, inputs) -> str           # journal key = "<kind>/<scope>" (see journal.py)
        def identity(self, inputs) -> str                # holder id; unique per resource on the host
        def read_state(self, host, inputs) -> dict       # Get:  one read op -> live state (JSON)
        def prior_of(self, inputs, current) -> dict      # item -> live value of every item we manage
        def plan(self, inputs, current) -> list[dict]    # Test: pure Python, no I/O, [] = converged
                                                         # (or plan_in_context(inputs, current, ctx))
        def restore_plan(self, inputs, prior, current) -> list[dict]   # changes putting `prior` back
        def apply(self, host, inputs, changes, prior) -> dict          # Set: run the apply op, return state
        def live_inputs(self, inputs, current) -> dict   # optional: live state in input shape (drift)
        def report(self, inputs, state) -> dict          # optional: trim the `state` output
        def check_inputs(self, inputs) -> list[tuple[str, str]]        # optional cross-field rules

    class EventLogSettings(HostResource, module="winfleet", name="EventLogSettings"):
        provider_class = EventLogSettingsProvider

``host`` in the hooks is a ``HostSession``: call ``host.run(op, params)`` for each op (never import
the executor yourself). ``inputs`` is the validated model instance. ``changes`` are plain JSON dicts
(primitive changes the driver applies in order); ``current``/state are what the read/apply drivers
return. Plans may raise ``Refused(field, message)`` for something only the live host can tell us
(an exempt account, a disk that holds somebody else's volume): the op fails with that message
before anything is changed.

What the base does
------------------
* ``check``: validates with the model (unknown keys rejected, so typos surface in preview), then
  ``check_inputs``; one ``CheckFailure`` per problem, named by its input path
  (``logs[1].maxSizeKb``) with a message that says what is allowed. Unknown values (preview before
  the VM exists) are never reported as failures. Returns the normalised inputs.
* ``diff``: local only (zero WinRM requests). Compares normalised inputs, ignores ``__provider``
  and outputs, names changed keys; keys in ``replace_keys`` (and a change of
  ``connection.hostName``, i.e. another machine) are replaces.
* ``create``/``update``: under a per-(host, journal key) lock: ``read_state`` (its first op also reads
  the journal entry and the host's MachineGuid: the executor's ``journal={"read": [key]}`` envelope, read on
  the host before that op runs) -> ``plan``; our holds (prior values + claims) go on the **first** op of the
  apply as a journal ``update`` delta, merged on the host under its registry mutex (never a whole-value
  rewrite, so another process's holders survive), with a precondition on the other holders we planned with
  (``JOURNAL_CONFLICT``, nothing changed: planned again, up to ``CONFLICT_RETRIES``); our releases go on the
  final op, after the changes succeeded. Holder ids are ``owner|hostName|identity`` (``holder_id``): an item
  another owner (stack, or host entry of this stack) holds is refused naming it, unless ``shareable``; an
  endpoint that now reaches another machine than the recorded ``machineGuid`` is refused. Items an update stops managing are restored in the same apply.
  A create whose apply fails is rolled back (best effort; if that fails too, the journal keeps the
  prior values and the next create or delete uses them). A failed update keeps Pulumi's old state
  and the journal, so the next run completes it. No changes -> no apply op.
  Outs = normalised inputs + ``state`` (live, after apply), ``prior`` (recorded prior values of our
  items), ``changed`` (bool), ``changes`` (the primitive changes applied).
  WinRM ops: create/update = 2 (read carrying the journal read, apply); converged = 1 (+1 to record
  the journal entry the first time). Each op is one WinRS round trip (4 HTTP requests on a warm shell);
  every provider call ends by closing its endpoint's idle shells (``end_call``), so a call pays one
  shell Create + Delete and a SIGTERM-ended provider host leaves nothing open between calls.
* ``read``: live state (``state``) and ``drift``, the input keys whose live value (``live_inputs``)
  differs from the desired one, so ``pulumi refresh`` shows drift; ``diff`` turns a non-empty
  ``drift`` into an update (never a replace, even for a drifted replace key), which converges it.
* ``delete``: releases our items; items nobody else holds are restored to their prior value
  (journal first, then the ``prior`` recorded in state), then the journal entry is cleared (or
  rewritten for the remaining holders) only after the restore succeeded. The journal read rides on
  ``read_state`` here too (delete = read + apply, 2 ops; nothing to restore = 1 op); if that read
  op's driver fails, the delete falls back to ``journal.read`` alone and reads the state again only
  if something must be restored (as before). ``read`` (refresh) is one op, no journal.

Rules this module keeps for you: nothing unpicklable on the provider object (it is dill-pickled
into state; endpoints, sessions and locks are created inside methods or kept at module level); the
executor is reached through the module-level ``run_op``/``make_endpoint`` (tests may patch them);
``connection`` (and ``secret_outputs``) are secret outputs; secret-wrapped inputs are unwrapped.
Reserved output names: ``state``, ``prior``, ``changed``, ``changes``, ``drift``.
"""
from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional

import pulumi
import pulumi.dynamic as dyn
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from ..windows_facts import number_problem, strings_problems, text_problem
from .journal import Entry, journal_key, lock_for

log = logging.getLogger("winfleet.host")

PROVIDER_KEY = "__provider"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"        # pulumi.runtime.rpc.UNKNOWN
_SIG_KEY = "4dabf18193072939515e22adb298388d"           # pulumi.runtime.rpc._special_sig_key
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"        # pulumi.runtime.rpc._special_secret_sig
OUTPUT_KEYS = ("state", "prior", "changed", "changes", "drift", "appliedAt", "crashes", "machineGuid")
# appliedAt / crashes: set by WindowsService only (when it last applied; crash reports seen by refresh)
JOURNAL_CONFLICT = "JOURNAL_CONFLICT"
CONFLICT_RETRIES = 5            # a converge/delete whose journal precondition failed is planned again
DEFAULT_TIMEOUT = 300.0


# ---------------------------------------------------------------------------------------------
# The executor, reached only through these two module-level functions (tests patch them).
def make_endpoint(connection: dict):
    from ..winrm import Endpoint
    return Endpoint.from_inputs(connection)


def run_op(endpoint, op: str, params: dict, *, journal: dict | None = None, timeout: float = DEFAULT_TIMEOUT,
           progress=None) -> dict:
    from ..winrm import run_op as _run_op
    return _run_op(endpoint, op, params, journal=journal, timeout=timeout, progress=progress)


def end_call(endpoint) -> None:
    """A provider call ended: close this endpoint's idle pooled shells. The dynamic-provider host is
    often ended with SIGTERM (no atexit, and its gRPC threads cannot install signal handlers), so a shell
    left open between calls would stay on the host until its IdleTimeOut and count against
    MaxShellsPerUser; a call's own ops still share one shell."""
    from ..winrm.pool import POOL
    try:
        POOL.close_idle(endpoint)
    except Exception as exc:  # never turn a finished call into a failure
        log.debug("closing idle shells failed: %s", type(exc).__name__)


# ---------------------------------------------------------------------------------------------
# Credentials in URLs: userinfo (``https://user:pass@host/``) and query strings (Azure SAS tokens
# ``?sv=...&sig=...``, S3 presigned ``X-Amz-Signature``) are secrets. The full URL travels only
# to the host (inside the op's payload) and in secret outputs; everything else shows it redacted.
REDACTED = "[redacted]"
_URL_IN_TEXT = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s'\"<>]*)")


def url_has_credentials(url: str) -> bool:
    from urllib.parse import urlsplit
    try:
        u = urlsplit(url)
    except ValueError:
        return True                         # unparseable: treat as if it had some
    return bool(u.username or u.password or "@" in u.netloc or u.query or u.fragment)


def redact_url(url: str) -> str:
    """``url`` without userinfo, query or fragment (scheme, host and path kept). An ``@`` anywhere
    before the query counts as the end of userinfo (a password with a raw '/' is still hidden)."""
    m = _URL_IN_TEXT.fullmatch(url)
    if not m:
        return REDACTED if ("@" in url or "?" in url) else url
    rest = m.group(2)
    cut = min([i for i in (rest.find("?"), rest.find("#")) if i >= 0], default=len(rest))
    main, query = rest[:cut], rest[cut:]
    if "@" in main:
        main = REDACTED + "@" + main.rsplit("@", 1)[1]
    return m.group(1) + main + ("?" + REDACTED if query else "")


def redact_text(text: str) -> str:
    """Every URL in ``text`` redacted (``redact_url``): error messages, logs."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), str(text))


# Service environment values may be secrets (`secure:` config values): outside the secret
# ``environment`` input/output they are shown as NAME=[redacted], except the variables winfleet itself
# sets (WINFLEET_*, GOTRACEBACK), which never are.
def _public_env_name(name: str) -> bool:
    n = name.upper()
    return n.startswith("WINFLEET_") or n == "GOTRACEBACK"


def redact_environment(lines):
    """A REG_MULTI_SZ environment (["NAME=value", ...]) with the values of user variables redacted."""
    if not isinstance(lines, list):
        return lines
    out = []
    for line in lines:
        name, eq, _value = str(line).partition("=")
        out.append(line if not eq or _public_env_name(name) else f"{name}={REDACTED}")
    return out


# ---------------------------------------------------------------------------------------------
class Refused(Exception):
    """A plan refuses to touch the host; ``field`` names the input responsible."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class HostResourceError(Exception):
    """Raised out of create/update/delete/read with the resource and host named."""


# ---------------------------------------------------------------------------------------------
class Model(BaseModel):
    """Base of input models: camelCase aliases, unknown keys rejected, frozen."""

    # hide_input_in_errors: a ValidationError's text never carries the input (the connection's password).
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                              frozen=True, str_strip_whitespace=False, hide_input_in_errors=True)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, v: Any, info) -> Any:
        # The engine sends numbers as numbers: a bool or a string in a numeric input is refused, never
        # read as 1 or parsed (windows_facts.number_problem; the stack config refuses bools too).
        import typing
        f = cls.model_fields.get(info.field_name)
        ann = f.annotation if f is not None else None
        args = typing.get_args(ann)
        if ann in (int, float) or (args and all(a in (int, float, type(None)) for a in args)):
            problem = number_problem(v, strings=False)
            if problem:
                raise ValueError(problem)
        return v

    def dump(self) -> dict:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


_SHA256 = re.compile(r"[0-9a-fA-F:\s]{64,95}")


class Connection(Model):
    """The contract's ``connection`` (docs/CONTRACTS.md). The password never appears in repr."""

    host: str = Field(min_length=1)
    port: int = Field(default=5986, ge=1, le=65535)
    username: str = Field(min_length=1)
    password: str = Field(default="", repr=False)
    auth: Literal["ntlm", "basic", "kerberos"] = "ntlm"
    ca_pem: Optional[str] = Field(default=None, repr=False)
    cert_sha256: Optional[str] = None
    tls_server_name: Optional[str] = None
    host_name: Optional[str] = None
    reach_budget_seconds: Optional[float] = Field(default=None, gt=0, le=7200)
    reach_backoff_seconds: Optional[float] = Field(default=None, gt=0, le=60)

    @field_validator("cert_sha256")
    @classmethod
    def _sha(cls, v):
        if v is not None and not _SHA256.fullmatch(v):
            raise ValueError("must be the SHA-256 of the server certificate: 64 hex digits")
        return v

    @model_validator(mode="after")
    def _trust(self):
        if not self.ca_pem and not self.cert_sha256:
            raise ValueError("needs caPem (CA bundle, PEM) or certSha256 (pinned certificate); "
                             "there is no option to skip certificate validation")
        if self.auth != "kerberos" and not self.password:
            raise ValueError(f"password is required for auth {self.auth!r}")
        return self

    @property
    def label(self) -> str:
        return self.host_name or f"{self.host}:{self.port}"


class Owner(Model):
    """The stack a resource belongs to (``pulumi.get_organization/get_project/get_stack``, set by
    ``HostResource``): journal holders carry it, so two stacks on one host never merge into one holder."""

    organization: str = Field(default="", max_length=256)
    project: str = Field(default="", max_length=256)
    stack: str = Field(default="", max_length=256)

    @property
    def ref(self) -> str:
        return f"{self.organization}/{self.project}/{self.stack}"


class HostInputs(Model):
    """Every host resource's inputs start with ``connection``; ``owner`` names its stack."""

    connection: Connection
    owner: Optional[Owner] = None


# ---------------------------------------------------------------------------------------------
@dataclass
class PlanContext:
    """What the journal knows, for ``plan_in_context``.

    ``prior``: item -> recorded prior value (journal first); ``held``: items this resource already
    held before this run (so "the volume on that disk is ours"); ``others``: item -> {holder: claim}
    of the other resources sharing an item.
    """

    others: dict = field(default_factory=dict)
    held: frozenset = frozenset()
    prior: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
class HostSession:
    """One resource operation's view of a host: runs ops and attaches journal envelopes.

    * a journal ``read`` armed with ``read_with_next`` goes on the next op (the bootstrap reads the
      entries before that op's driver runs, and before any ``write`` in the same envelope);
      ``journal_entries`` then returns them (or sends a ``journal.read`` if no op carried them), and
      ``machine_guid`` is what the host said it is;
    * a journal ``update`` hold (+ its ``expect`` precondition) armed with ``hold_before`` goes on the next
      op (applied on the host before anything changes);
    * an ``update`` release armed with ``release_after`` goes on the op called with ``final=True`` or,
      failing that, on a ``journal.read`` sent by ``flush`` (applied after the op succeeded).
    """

    def __init__(self, connection: dict, timeout: float = DEFAULT_TIMEOUT, progress=None):
        self.endpoint = make_endpoint(connection)
        self.label = connection.get("hostName") or f"{connection.get('host')}:{connection.get('port', 5986)}"
        self.timeout = timeout
        self.progress = progress          # run_op progress callback (components.host.progress.reporter) or None
        self.requests = 0
        self.machine_guid: Optional[str] = None
        self._hold: Optional[dict] = None
        self._release: Optional[dict] = None
        self._read: Optional[list[str]] = None
        self._entries: Optional[dict] = None

    def run(self, op: str, params: dict, *, final: bool = False) -> dict:
        journal = {}
        read = self._read
        if read is not None:
            journal["read"] = read
        update = self._update(final)
        if update is not None:
            journal["update"] = update
        self.requests += 1
        extra = {}
        if self.progress is not None:      # only then: test doubles of run_op need not know the keyword
            self.progress({"step": op, "message": "started"})
            extra["progress"] = self.progress
        result = run_op(self.endpoint, op, params, journal=journal or None, timeout=self.timeout, **extra)
        if read is not None:
            result = dict(result)
            carried = result.pop("journal", None) or {}
            entries = carried.get("entries")
            if not isinstance(entries, dict):       # the executor checks this too; never assume "empty"
                raise RuntimeError(f"{op} on {self.label}: the journal read it carried came back without entries")
            self._entries = entries
            self.machine_guid = carried.get("machineGuid") or self.machine_guid
            self._read = None
        return result

    def _update(self, final: bool) -> Optional[dict]:
        """The ``update`` member for the next op: the armed hold (+ its precondition) always, the armed
        release only on a final op (it must take effect only once the changes succeeded)."""
        hold, rel = self._hold, (self._release if final else None)
        if hold is None and rel is None:
            return None
        base = hold or rel
        update = {"key": base["key"], "holder": base["holder"]}
        if hold is not None:
            update.update({k: v for k, v in hold.items() if k in ("expect", "hold") and v})
        if rel is not None:
            update.update({k: v for k, v in rel.items() if k in ("release", "releaseOther") and v})
            if hold is None and rel.get("expect"):
                update["expect"] = rel["expect"]
            self._release = None
        self._hold = None
        return update

    def state(self, op: str, params: dict, **kw) -> dict:
        return self.run(op, params, **kw).get("state") or {}

    def read_journal(self, keys: list[str]) -> dict:
        """The entries of ``keys`` now, as an op of its own (``journal.read``)."""
        self._read = list(keys)
        self._entries = None
        self.state("journal.read", {"keys": list(keys)})
        entries, self._entries = self._entries, None
        return entries or {}

    def read_with_next(self, keys: list[str]) -> None:
        """Have the next op also read the journal entries of ``keys`` (as they were before it ran)."""
        self._read = list(keys)
        self._entries = None

    def journal_entries(self) -> dict:
        """The entries armed by ``read_with_next``: what the op carried, or a ``journal.read`` now
        if no op was sent since (or it failed)."""
        if self._entries is None:
            keys, self._read = self._read or [], None
            self._entries = self.read_journal(keys)
        entries, self._entries = self._entries, None
        return entries

    def hold_before(self, key: str, holder: str, hold: dict, expect: dict) -> None:
        """Have the next op first check ``expect`` (item -> the other holders we planned with) and
        record ``hold`` (item -> {"prior", "claim"}) on the host, merged into the entry as it is then."""
        self._hold = {"key": key, "holder": holder, "hold": hold, "expect": expect}

    def release_after(self, key: str, holder: str, release: list, release_other: dict, expect: dict) -> None:
        """Have the final op (or ``flush``) drop our holds on ``release`` (and other holder ids') once
        it succeeded; items nobody holds then lose their prior value on the host."""
        self._release = {"key": key, "holder": holder, "release": list(release),
                         "releaseOther": {h: list(i) for h, i in release_other.items() if i}, "expect": expect}

    def flush(self) -> None:
        """Send whatever journal update is still armed (on a harmless ``journal.read``)."""
        update = self._update(final=True)
        if update is not None:
            self.requests += 1
            run_op(self.endpoint, "journal.read", {"keys": []}, journal={"update": update}, timeout=self.timeout)


# ---------------------------------------------------------------------------------------------
def unwrap_secrets(value: Any) -> Any:
    """Replace Pulumi secret-signature dicts by their plain value, recursively."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def _printable(value: Any) -> Any:
    """``value`` with every string that ``text_problem`` refuses replaced (a CheckResult's inputs must
    still serialise: protobuf refuses lone surrogates)."""
    if isinstance(value, str):
        return "[refused text]" if text_problem(value) else value
    if isinstance(value, dict):
        return {("[refused key]" if isinstance(k, str) and text_problem(k) else k): _printable(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def has_unknown(value: Any) -> bool:
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return value == UNKNOWN


def _path(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(inputs)"


def _at(value: Any, loc) -> Any:
    for part in loc:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _error_message(err: dict) -> str:
    msg = err.get("msg", "invalid")
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if err.get("type") == "extra_forbidden":
        msg = "unknown input (check the spelling; inputs are camelCase)"
    return msg


def _conflict(exc: BaseException) -> bool:
    """The host refused our journal update's precondition (nothing was changed): plan again."""
    return getattr(exc, "code", None) == JOURNAL_CONFLICT


class _ClaimsWithDefault(dict):
    """item -> claim; an item without an explicit claim gets just the owner fields."""

    def __init__(self, claims: dict, who: dict):
        super().__init__(claims)
        self.who = who

    def __missing__(self, item):
        return dict(self.who)

    def get(self, item, default=None):
        return self[item]


# ---------------------------------------------------------------------------------------------
class HostResourceProvider(dyn.ResourceProvider):
    """Base provider; see the module docstring. Subclasses hold no instance state."""

    kind: ClassVar[str] = ""
    model: ClassVar[type[HostInputs]] = HostInputs
    replace_keys: ClassVar[tuple[str, ...]] = ()
    delete_before_replace: ClassVar[bool] = False
    op_timeout: ClassVar[float] = DEFAULT_TIMEOUT
    # The serialized provider is a class reference plus an empty dict: nothing secret is captured.
    serialize_as_secret_always = False

    # ---- hooks (override) ------------------------------------------------------------------
    def journal_scope(self, inputs) -> str:
        raise NotImplementedError

    def identity(self, inputs) -> str:
        return self.journal_scope(inputs)

    def read_state(self, host: HostSession, inputs) -> dict:
        raise NotImplementedError

    def prior_of(self, inputs, current: dict) -> dict:
        raise NotImplementedError

    def claims(self, inputs) -> dict:
        """item -> claim (JSON) recorded with our holder id; other holders see it in ``others``."""
        return {}

    def plan(self, inputs, current: dict) -> list[dict]:
        raise NotImplementedError

    def plan_in_context(self, inputs, current: dict, ctx: "PlanContext") -> list[dict]:
        """Like ``plan``, for resources that need the journal's view (see ``PlanContext``)."""
        return self.plan(inputs, current)

    def restore_plan(self, inputs, prior: dict, current: dict) -> list[dict]:
        raise NotImplementedError

    def plan_after_release(self, inputs, current: dict, ctx: "PlanContext") -> list[dict]:
        """On delete, for items other resources still hold (``ctx.others``: their claims): changes
        that follow from our claim going away (e.g. stop enforcing a shared volume). Default: none."""
        return []

    def apply(self, host: HostSession, inputs, changes: list[dict], prior: dict) -> dict:
        raise NotImplementedError

    def live_inputs(self, inputs, current: dict) -> dict:
        return inputs.dump()

    def report(self, inputs, state: dict) -> dict:
        """The ``state`` output: by default what read/apply returned; override to trim it."""
        return state

    def check_inputs(self, inputs) -> list[tuple[str, str]]:
        return []

    # ---- helpers ---------------------------------------------------------------------------
    def journal_key(self, inputs) -> str:
        return journal_key(self.kind, self.journal_scope(inputs))

    def resource_id(self, inputs) -> str:
        return f"{inputs.connection.label}/{self.kind}/{self.identity(inputs)}"

    def parse(self, props: dict):
        """Validated model from inputs or outputs (outputs and ``__provider`` are ignored)."""
        props = unwrap_secrets({k: v for k, v in (props or {}).items()
                                if k != PROVIDER_KEY and k not in OUTPUT_KEYS})
        return self.model.model_validate(props)

    def _session(self, inputs) -> HostSession:
        return HostSession(inputs.connection.dump(), timeout=self.op_timeout, progress=self._progress(inputs))

    def _progress(self, inputs):
        """The progress callback of this resource's ops (None without an engine: see progress.py)."""
        from .progress import reporter
        return reporter(f"{self.describe(inputs)} on {inputs.connection.label}")

    def describe(self, inputs) -> str:
        """How errors name the resource (``inputs`` may be None); override to add its identity."""
        return self.kind

    def _fail(self, what: str, inputs, exc: Exception) -> HostResourceError:
        label = inputs.connection.label if inputs is not None else "?"
        if isinstance(exc, Refused):
            msg = f"{self.describe(inputs)} on {label}: {what} refused: {exc.field}: {exc.message}"
        else:
            msg = f"{self.describe(inputs)} on {label}: {what} failed: {exc}"
        return HostResourceError(redact_text(msg))

    def _outs(self, inputs, state: dict, prior: dict, changes: list[dict]) -> dict:
        return {**inputs.dump(), "state": self.report(inputs, state), "prior": prior, "changed": bool(changes),
                "changes": changes, "drift": []}

    # ---- check -----------------------------------------------------------------------------
    def check(self, _olds: dict, news: dict) -> dyn.CheckResult:
        raw = unwrap_secrets({k: v for k, v in (news or {}).items()
                              if k != PROVIDER_KEY and not (k in OUTPUT_KEYS and v is None)})
        failures: list[dyn.CheckFailure] = []
        # Lone surrogates, C1 controls and NUL are refused in every string (the stack config's
        # rule, components.windows_facts.text_problem), naming the input.
        for loc, problem in strings_problems(raw):
            failures.append(dyn.CheckFailure(_path(loc), f"{_path(loc)}: {problem}"))
        if failures:
            return dyn.CheckResult(_printable(raw), failures)
        try:
            inputs = self.model.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = err.get("loc", ())
                if has_unknown(_at(raw, loc)) or (not loc and has_unknown(raw)):
                    continue  # not known yet (preview): the engine checks again with real values
                path = _path(loc)
                failures.append(dyn.CheckFailure(path, f"{path}: {_error_message(err)}"))
            return dyn.CheckResult(raw, failures)
        for path, msg in self.check_inputs(inputs):
            failures.append(dyn.CheckFailure(path, f"{path}: {msg}"))
        return dyn.CheckResult(inputs.dump() if not failures else raw, failures)

    # ---- diff (local only) -----------------------------------------------------------------
    def diff(self, _id: str, olds: dict, news: dict) -> dyn.DiffResult:
        old = unwrap_secrets({k: v for k, v in (olds or {}).items() if k != PROVIDER_KEY and k not in OUTPUT_KEYS})
        new = unwrap_secrets({k: v for k, v in (news or {}).items() if k != PROVIDER_KEY})
        try:
            old = self.model.model_validate(old).dump()
        except ValidationError:
            pass
        if not has_unknown(new):
            try:
                new = self.model.model_validate(new).dump()
            except ValidationError:
                pass
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) or has_unknown(new.get(k)))
        replaces = [k for k in changed if k in self.replace_keys]
        # Drift found by `read` (refresh) is converged in place by an update, never by a replace.
        drift = [k for k in ((olds or {}).get("drift") or []) if k in new]
        changed = sorted(set(changed) | set(drift))
        if "connection" in changed:
            oc, nc = old.get("connection") or {}, new.get("connection") or {}
            if has_unknown(nc) or (oc.get("hostName") or oc.get("host")) != (nc.get("hostName") or nc.get("host")):
                replaces.append("connection")
        replaces = sorted(set(replaces))
        stables = sorted(k for k in set(old) & set(new) if k not in changed)
        return dyn.DiffResult(changes=bool(changed), replaces=replaces, stables=stables,
                              delete_before_replace=bool(replaces) and self.delete_before_replace)

    # ---- create / update -------------------------------------------------------------------
    def _parsed(self, what: str, props: dict):
        """``parse`` for create/update/delete/read: a ValidationError becomes a HostResourceError
        naming the inputs that no longer validate (never their values: the connection's password)."""
        try:
            return self.parse(props)
        except ValidationError as exc:
            bad = "; ".join(f"{_path(e.get('loc', ()))}: {_error_message(e)}" for e in exc.errors(include_input=False))
            raise HostResourceError(f"{self.kind}: {what} failed: the stored inputs no longer validate "
                                    f"({bad})") from None

    def _end(self, inputs) -> None:
        try:
            end_call(make_endpoint(inputs.connection.dump()))
        except Exception:
            pass

    def create(self, props: dict) -> dyn.CreateResult:
        inputs = self._parsed("create", props)
        try:
            outs = self._converge(inputs, None, None, creating=True)
        except Exception as exc:
            raise self._fail("create", inputs, exc) from None   # the cause's text is unredacted (URLs)
        finally:
            self._end(inputs)
        return dyn.CreateResult(self.resource_id(inputs), outs)

    def update(self, _id: str, olds: dict, news: dict) -> dyn.UpdateResult:
        inputs = self._parsed("update", news)
        try:
            old_inputs = self.parse(olds)
        except ValidationError:
            old_inputs = None
        try:
            outs = self._converge(inputs, old_inputs, unwrap_secrets(olds or {}), creating=False)
        except Exception as exc:
            raise self._fail("update", inputs, exc) from None   # the cause's text is unredacted (URLs)
        finally:
            self._end(inputs)
        return dyn.UpdateResult(outs)

    def _converge(self, inputs, old_inputs, old_outs, *, creating: bool) -> dict:
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                return self._converge_once(inputs, old_inputs, old_outs, creating=creating)
            except Exception as exc:
                if not _conflict(exc) or attempt == CONFLICT_RETRIES:
                    raise
                log.info("%s: the host journal changed under us (%s); planning again", self.kind, exc)
        raise AssertionError("unreachable")

    def _converge_once(self, inputs, old_inputs, old_outs, *, creating: bool) -> dict:
        host = self._session(inputs)
        key = self.journal_key(inputs)
        holder = self.holder_id(inputs)
        legacy = self.legacy_holders(inputs, old_inputs)
        old_holder = self.holder_id(old_inputs) if old_inputs is not None else None
        with lock_for(host.label, key):
            host.read_with_next([key])            # the read op carries the journal read
            current = self.read_state(host, inputs)
            entry = Entry.parse(host.journal_entries().get(key), self.kind)
            raw = entry.copy()                    # as the host has it: the precondition is about this
            self.check_machine(inputs, old_outs, host)
            for old in legacy:                    # a pre-owner holder id of this resource: ours
                if old != holder and entry.items_of(old) and not entry.items_of(holder):
                    entry.rename(old, holder)
            before = entry.copy()
            live = self.prior_of(inputs, current)
            old_prior = dict((old_outs or {}).get("prior") or {})
            for item in live:                     # state's record beats the live value
                if item in old_prior and item not in entry.prior:
                    live[item] = copy.deepcopy(old_prior[item])
            claims = self.owned_claims(inputs, host)
            self.check_owners(inputs, entry, holder, claims, live, host)
            ctx = PlanContext(others=entry.others(holder), held=frozenset(entry.items_of(holder)))
            prior = entry.hold(holder, live, claims)
            ctx.prior = prior
            pre = entry.copy()
            gone = [i for i in entry.items_of(holder) if i not in live]
            freed = entry.release(holder, gone)
            others_out: dict[str, list[str]] = {}
            if old_holder is not None and old_holder != holder:
                others_out[old_holder] = entry.items_of(old_holder)
                freed.update(entry.release(old_holder, others_out[old_holder]))
            for item, value in old_prior.items():   # journal lost but state remembers
                if item not in live and item not in freed and item not in entry.holders:
                    freed[item] = value
            changes = list(self.plan_in_context(inputs, current, ctx))
            if freed:
                changes += self.restore_plan(old_inputs or inputs, freed, current)
            hold = {i: {"prior": copy.deepcopy(live[i]), "claim": copy.deepcopy(pre.holders[i][holder])}
                    for i in live if raw.holders.get(i, {}).get(holder) != pre.holders[i][holder]
                    or i not in raw.prior}
            renamed = {old: raw.items_of(old) for old in legacy if old != holder and raw.items_of(old)}
            touched = set(hold) | set(gone) | {i for v in others_out.values() for i in v} | \
                {i for v in renamed.values() for i in v}
            expect = {i: sorted(h for h in raw.holders.get(i, {}) if h != holder) for i in sorted(touched)}
            release_other = {**renamed, **{h: v for h, v in others_out.items() if v}}
            if hold or expect:
                host.hold_before(key, holder, hold, expect)
            if gone or release_other:
                host.release_after(key, holder, gone, release_other, expect if not (hold or expect) else {})
            if changes:
                try:
                    state = self.apply(host, inputs, changes, prior)
                    host.flush()
                except Exception as exc:
                    if creating and not _conflict(exc):
                        self._rollback(inputs, key, holder, exc)
                    raise
            else:
                state = current
                host.flush()
        return {**self._outs(inputs, state, prior, changes), "machineGuid": host.machine_guid}

    def _rollback(self, inputs, key: str, holder: str, exc: Exception) -> None:
        """A create failed part-way: put back what it changed (best effort, journal kept on failure)."""
        try:
            host = self._session(inputs)
            host.read_with_next([key])
            current = self.read_state(host, inputs)
            entry = Entry.parse(host.journal_entries().get(key), self.kind)
            mine = entry.items_of(holder)
            expect = {i: sorted(h for h in entry.holders.get(i, {}) if h != holder) for i in mine}
            freed = entry.release(holder, mine)
            changes = self.restore_plan(inputs, freed, current) if freed else []
            if mine:
                host.release_after(key, holder, mine, {}, expect)
            if changes:
                self.apply(host, inputs, changes, freed)
            host.flush()
            log.warning("%s: create failed (%s); rolled back %d change(s)", self.kind, redact_text(exc), len(changes))
        except Exception as rb_exc:  # the journal still holds the prior values
            log.warning("%s: rollback after failed create also failed: %s", self.kind, redact_text(rb_exc))

    # ---- who holds what ----------------------------------------------------------------------
    def holder_id(self, inputs) -> str:
        """Journal holder id: the owner (organization/project/stack), the logical host and the
        resource's identity. Lower-case (PowerShell 5.1's ConvertFrom-Json refuses keys differing
        only in case). Two stacks, or two host entries of one stack that reach one machine, never
        share a holder, so neither can release (and wipe) what the other holds."""
        owner = inputs.owner.ref if inputs.owner is not None else ""
        return f"{owner}|{inputs.connection.label}|{self.identity(inputs)}".lower()

    def legacy_holders(self, inputs, old_inputs) -> list[str]:
        """Holder ids this resource had before holders carried the owner (``identity`` alone)."""
        return sorted({self.identity(i).lower() for i in (inputs, old_inputs) if i is not None} |
                      {self.identity(i) for i in (inputs, old_inputs) if i is not None})

    def owned_claims(self, inputs, host) -> dict:
        """``claims`` with who holds: ``stack``, ``host`` (logical name) and ``machine`` (MachineGuid)."""
        who = {"stack": inputs.owner.ref if inputs.owner is not None else "",
               "host": inputs.connection.label, "machine": host.machine_guid}
        out = {item: {**(claim if isinstance(claim, dict) else {}), **who}
               for item, claim in self.claims(inputs).items()}
        return _ClaimsWithDefault(out, who)

    def shareable(self, item: str, mine: dict, theirs: dict) -> bool:
        """May another owner (stack, or host entry) hold ``item`` too? Default: no (exclusive).
        Resources whose items are safe to co-own (the last holder restores) override this."""
        return False

    def item_field(self, inputs, item: str) -> str:
        """The input that names ``item`` (for a refusal)."""
        return "connection"

    def check_owners(self, inputs, entry: Entry, holder: str, claims: dict, live: dict, host) -> None:
        """Refuse an item another owner holds (unless ``shareable``), naming that stack and host."""
        for item in sorted(live):
            mine = claims[item]
            for other, theirs in sorted((entry.holders.get(item) or {}).items()):
                if other == holder or not isinstance(theirs, dict) or "stack" not in theirs:
                    continue         # legacy holders (no owner recorded) are treated as ours
                if (theirs.get("stack"), theirs.get("host")) == (mine["stack"], mine["host"]):
                    continue
                if self.shareable(item, mine, theirs):
                    continue
                same = "another stack" if theirs.get("stack") != mine["stack"] else \
                    f"another host entry of this stack ({theirs.get('host')} and {mine['host']} are the same machine)"
                raise Refused(self.item_field(inputs, item),
                              f"{self.kind} item {item!r} on this machine (MachineGuid {host.machine_guid}) is "
                              f"already held by stack {theirs.get('stack') or '?'} as host {theirs.get('host')}: "
                              f"{same}. winfleet never lets two owners manage one item (destroying one would undo "
                              "the other's); destroy it there first, or remove the duplicate host entry")

    def check_machine(self, inputs, old_outs, host) -> None:
        """The endpoint must still reach the machine this resource was created on (MachineGuid), so an
        address given to another VM never gets our changes or restores."""
        was = (old_outs or {}).get("machineGuid")
        if was and host.machine_guid and was.lower() != host.machine_guid.lower():
            raise Refused("connection", f"{inputs.connection.label} now reaches another machine (MachineGuid "
                                        f"{host.machine_guid}; this resource is on {was}); nothing was changed. "
                                        "Point connection back at that machine, or remove the resource from state")

    # ---- read ------------------------------------------------------------------------------
    def read(self, id_: str, props: dict) -> dyn.ReadResult:
        inputs = self._parsed("read", props)
        old_outs = {k: v for k, v in unwrap_secrets(props).items() if k != PROVIDER_KEY}
        try:
            current = self.refresh_state(self._session(inputs), inputs, old_outs)
        except Exception as exc:
            raise self._fail("read", inputs, exc) from None   # the cause's text is unredacted (URLs)
        finally:
            self._end(inputs)
        outs = dict(old_outs)
        outs.update(inputs.dump())
        outs.update(self.refresh_outputs(inputs, current, old_outs))
        outs["state"] = self.report(inputs, current)
        outs["drift"] = self.drift(inputs, current)
        return dyn.ReadResult(id_, outs)

    def refresh_state(self, host: HostSession, inputs, old_outs: dict) -> dict:
        """The live state for ``read`` (refresh): by default ``read_state``; still one op."""
        return self.read_state(host, inputs)

    def refresh_outputs(self, inputs, current: dict, old_outs: dict) -> dict:
        """Extra outputs ``read`` sets from the live state (e.g. WindowsService's ``crashes``)."""
        return {}

    def drift(self, inputs, current: dict) -> list[str]:
        """Input keys whose live value differs from the desired one (``live_inputs`` vs inputs)."""
        want = inputs.dump()
        live = self.live_inputs(inputs, current)
        return sorted(k for k in want if k != "connection" and live.get(k) != want.get(k))

    # ---- delete ----------------------------------------------------------------------------
    def delete(self, _id: str, props: dict) -> None:
        inputs = self._parsed("delete", props)
        try:
            self.restore(inputs, unwrap_secrets(props))
        except Exception as exc:
            raise self._fail("delete", inputs, exc) from None   # the cause's text is unredacted (URLs)
        finally:
            self._end(inputs)

    def restore(self, inputs, outs: dict) -> None:
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                return self._restore_once(inputs, outs)
            except Exception as exc:
                if not _conflict(exc) or attempt == CONFLICT_RETRIES:
                    raise
                log.info("%s: the host journal changed under us (%s); planning the delete again", self.kind, exc)

    def _restore_once(self, inputs, outs: dict) -> None:
        host = self._session(inputs)
        key = self.journal_key(inputs)
        holder = self.holder_id(inputs)
        legacy = [h for h in self.legacy_holders(inputs, None) if h != holder]
        recorded = dict(outs.get("prior") or {})
        with lock_for(host.label, key):
            # The read op carries the journal read. A delete that turns out to have nothing to
            # restore never needed that read: if its driver failed (the host answered), fall back
            # to journal.read alone and read the state again only when it is needed.
            from ..winrm.errors import MalformedOutput, OpFailed
            host.read_with_next([key])
            try:
                current, read_error = self.read_state(host, inputs), None
            except (OpFailed, MalformedOutput) as exc:
                current, read_error = None, exc
            entry = Entry.parse(host.journal_entries().get(key), self.kind)
            self.check_machine(inputs, outs, host)
            raw = entry.copy()
            renamed = {}
            for old in legacy:
                if entry.items_of(old) and not entry.items_of(holder):
                    renamed[old] = entry.items_of(old)
                    entry.rename(old, holder)
            before = entry.copy()
            items = sorted(set(entry.items_of(holder)) | set(recorded))
            in_journal = set(entry.holders) | set(entry.prior)
            freed = entry.release(holder, items)
            for item in items:                     # state lost on the host side: use our record
                if item not in freed and item not in in_journal and item in recorded:
                    freed[item] = recorded[item]
            shared = [i for i in items if i in entry.holders]      # still held by other resources
            if not freed and not shared and entry == before:
                return
            if read_error is not None:
                current = self.read_state(host, inputs) if (freed or shared) else {}
            changes = self.restore_plan(inputs, freed, current) if freed else []
            if shared:
                ctx = PlanContext(others={i: dict(entry.holders[i]) for i in shared},
                                  held=frozenset(), prior={i: entry.prior.get(i) for i in shared})
                changes += self.plan_after_release(inputs, current, ctx)
            own = raw.items_of(holder)             # what the host has under our id
            touched = set(own) | {i for v in renamed.values() for i in v}
            expect = {i: sorted(h for h in raw.holders.get(i, {}) if h != holder) for i in sorted(touched)}
            if touched:
                host.release_after(key, holder, own, renamed, expect)
            if changes:
                self.apply(host, inputs, changes, freed)
            host.flush()


def current_owner() -> dict:
    """This program's organization/project/stack (the ``owner`` input of every host resource)."""
    def get(fn) -> str:
        try:
            return fn() or ""
        except Exception:        # an engine without organizations (old CLI, local backend)
            return ""
    return {"organization": get(pulumi.get_organization), "project": get(pulumi.get_project),
            "stack": get(pulumi.get_stack)}


# ---------------------------------------------------------------------------------------------
class HostResource(dyn.Resource):
    """Base of the resource classes: ``Name(resource_name, inputs: dict, opts=None)``.

    Subclass with ``class X(HostResource, module="winfleet", name="X"): provider_class = XProvider``
    for the token ``pulumi-python:dynamic/winfleet:X``.
    """

    provider_class: ClassVar[type[HostResourceProvider]]
    secret_outputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, resource_name: str, inputs: dict, opts: Optional[pulumi.ResourceOptions] = None):
        props = dict(inputs)
        props.setdefault("owner", current_owner())
        for key in OUTPUT_KEYS:
            props.setdefault(key, None)
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["connection", *self.secret_outputs]))
        super().__init__(self.provider_class(), resource_name, props, opts)
