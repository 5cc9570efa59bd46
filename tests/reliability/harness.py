"""Real processes on 127.0.0.1 for the reliability suite (and bench/soak.py).

A `Cluster` is what a small production set-up looks like: a fresh PostgreSQL
database (on a server of its own, `PrivatePostgres`, for the suite; on the machine's
for bench/soak.py), a Redis database number of its own for the job queue, two
`npsloop serve --no-worker` web servers (gunicorn), two `npsloop worker`
processes, an SMTP server (aiosmtpd) that can be held, stopped and started again
on the same port, and a webhook receiver that can be down, slow or up. The load:
`IngestLoad` sends Segment identify calls (single and batches, some of them twice)
to both web servers; `Clicker` reads every survey email that arrives, follows a
rating link and records the score as the rating page's script does. `tally`
counts, from both ends, what was sent and what arrived.

Nothing here imports Django: the test process talks to the database with psycopg,
and whatever needs the product's code runs in `helper.py`, a process of its own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import heapq
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
# The machine's PostgreSQL, for bench/soak.py; the reliability suite starts a server of its
# own (PrivatePostgres) unless RELIABILITY_PG_ADMIN_URL names one to use instead.
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EXTERNAL_PG_ADMIN_URL = os.environ.get("RELIABILITY_PG_ADMIN_URL", "")
REDIS_URL = os.environ.get("RELIABILITY_REDIS_URL", "redis://127.0.0.1:6379")
OWNER_KEY = "npsloop:reliability:owner"
INVITATION_MESSAGE_ID = re.compile(r"<npsloop\.invitation\.(\d+)\.")
RATING_LINK = re.compile(r'href="([^"]+/r/[^"]+/)" title="(\d+)"')  # tests/conftest.py
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
RECORD_URL = re.compile(r'data-record-url="([^"]+)"')
# Variables of the caller's environment the cluster's processes inherit; everything
# else (DATABASE_URL, JOBS_URL, tests.settings' own …) is set here or left out.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "USER", "VIRTUAL_ENV")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll until predicate() is truthy; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- PostgreSQL


class Database:
    """A fresh PostgreSQL database; its rows are read with psycopg, never with Django."""

    def __init__(self, prefix: str, admin_url: str = DEFAULT_PG_ADMIN_URL):
        self.name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
        self.admin_url = admin_url  # set again once a private server has its port
        self.created = False

    @property
    def url(self) -> str:
        return f"{self.admin_url.rsplit('/', 1)[0]}/{self.name}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def create(self) -> None:
        import psycopg

        try:
            self._admin(f'CREATE DATABASE "{self.name}"')
        except psycopg.OperationalError as error:
            raise RuntimeError(
                f"PostgreSQL is not reachable at {self.admin_url} ({error})"
            ) from error
        self.created = True

    def drop(self) -> None:
        if self.created:
            with contextlib.suppress(Exception):
                self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False

    def rows(self, sql: str, params: Any = None, timeout: float = 60) -> list[tuple]:
        """Run a query on a fresh connection; waits out an outage for up to `timeout` s."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
                    return conn.execute(sql, params).fetchall()
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def scalar(self, sql: str, params: Any = None) -> Any:
        return self.rows(sql, params)[0][0]


class ExternalPostgres:
    """A server someone else runs (the machine's, or RELIABILITY_PG_ADMIN_URL): only used.

    It is never stopped or started: other programs may be using it. bench/soak.py runs
    on it; the fault test, which restarts PostgreSQL, needs a PrivatePostgres.
    """

    restartable = False

    def __init__(self, admin_url: str = DEFAULT_PG_ADMIN_URL):
        self.admin_url = admin_url

    def create(self) -> None:
        pass

    def destroy(self, *, keep: bool = False, log_to: Path | None = None) -> None:
        pass

    def stop(self) -> None:
        raise RuntimeError(f"{self.admin_url} is not ours to stop")

    def start(self) -> None:
        raise RuntimeError(f"{self.admin_url} is not ours to start")


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are: Debian's newest /usr/lib/postgresql/N/bin, else the PATH."""
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    for bindir in [*debian, *([Path(on_path).parent] if on_path else [])]:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise RuntimeError(
        "the reliability suite starts a PostgreSQL server of its own: initdb and pg_ctl "
        "are neither in /usr/lib/postgresql/<version>/bin nor on the PATH (Debian: "
        "apt-get install postgresql)"
    )


class PrivatePostgres:
    """A PostgreSQL server of the suite's own, in a temporary directory, on a free port.

    `initdb` (trust authentication, UTF-8, C.UTF-8 as the machine's cluster) and `pg_ctl`
    on 127.0.0.1 with its unix socket in the same directory; no setting of the server is
    changed but where it listens, so it is as durable as any (fsync,
    synchronous_commit and full_page_writes on): stopping and starting it is a real
    PostgreSQL restart, and nothing else on the machine notices. initdb and pg_ctl
    refuse to run as root; as root they run as the `postgres` user, who owns the
    directory. `destroy` stops it (immediate) and removes the directory; a server left
    behind by a run that was killed (SIGKILL: no teardown) is removed by the next run
    (`reap`), found by the pid of its owner.
    """

    restartable = True
    PREFIX = "npsloop-reliability-pg-"
    OS_USER = "postgres"

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = 0
        self.dir: Path | None = None
        self.as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            import pwd

            try:
                user = pwd.getpwnam(self.OS_USER)
            except KeyError as error:
                raise RuntimeError(
                    f"running as root, the suite runs PostgreSQL as the {self.OS_USER!r} "
                    "user (initdb refuses root), and there is no such user"
                ) from error
            self.uid, self.gid = user.pw_uid, user.pw_gid
            self.as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        else:
            self.uid, self.gid = os.geteuid(), os.getegid()

    @property
    def data(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    @property
    def log(self) -> Path:
        assert self.dir is not None
        return self.dir / "postgresql.log"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        assert self.dir is not None
        argv = [str(self.bindir / program), *args]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        env["HOME"] = str(self.dir)
        return subprocess.run(
            argv,
            cwd=self.dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            **self.as_user,
        )

    def _ctl(self, *args: str, timeout: float = 120) -> None:
        done = self._run("pg_ctl", "-D", str(self.data), *args, timeout=timeout)
        if done.returncode:
            raise RuntimeError(
                f"pg_ctl {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n"
                f"{done.stderr}\n{tail(self.log)}"
            )

    @classmethod
    def reap(cls) -> list[Path]:
        """Stop and remove the servers of earlier runs whose test process is gone."""
        reaped = []
        for path in Path(tempfile.gettempdir()).glob(cls.PREFIX + "*"):
            try:
                owner = int((path / "owner").read_text())
            except (OSError, ValueError):
                continue  # still being made, or not ours
            try:
                os.kill(owner, 0)
                continue  # its run is still going
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            server = cls()
            server.dir = path
            if (server.data / "postmaster.pid").exists():
                with contextlib.suppress(Exception):
                    server._ctl("stop", "-m", "immediate", "-w", "-t", "30")
            shutil.rmtree(path, ignore_errors=True)
            reaped.append(path)
        return reaped

    def create(self) -> None:
        """initdb into a new temporary directory and start the server on a free port."""
        for path in self.reap():
            say(f"postgres: removed a server left behind by a killed run: {path}")
        self.dir = Path(tempfile.mkdtemp(prefix=self.PREFIX))
        (self.dir / "owner").write_text(str(os.getpid()))
        os.chown(self.dir, self.uid, self.gid)
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        for attempt in range(3):
            # free_port() lets the port go before the server binds it: another program may
            # take it in between; then another port.
            self.port = free_port()
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(
                    "\n# npsloop reliability suite: where it listens, nothing else\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"port = {self.port}\n"
                    f"unix_socket_directories = '{self.dir}'\n"
                )
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == 2:
                    raise

    def is_ready(self) -> bool:
        done = self._run(
            "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "5", timeout=30
        )
        return done.returncode == 0

    def start(self) -> None:
        """Start it and wait until it accepts connections (pg_ctl -w)."""
        self._ctl("start", "-w", "-t", "60", "-l", str(self.log))
        wait_for(self.is_ready, 60, "PostgreSQL to accept connections", every=0.1)

    def stop(self) -> None:
        """A fast shutdown, as a service manager does: sessions are cut off."""
        self._ctl("stop", "-m", "fast", "-w", "-t", "60")

    def destroy(self, *, keep: bool = False, log_to: Path | None = None) -> None:
        """Stop it whatever state it is in and remove its directory (its log to log_to).

        keep: stopped (a clean shutdown), the directory left for a look (the next run
        does not reap it); `say` tells how to start it again.
        """
        if self.dir is None:
            return
        if log_to is not None:
            with contextlib.suppress(OSError):
                shutil.copy(self.log, log_to / "postgresql.log")
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._ctl("stop", "-m", "fast" if keep else "immediate", "-w", "-t", "30")
        if keep:
            (self.dir / "owner").unlink(missing_ok=True)
            user = f"runuser -u {self.OS_USER} -- " if self.as_user else ""
            ctl = f"{user}{self.bindir}/pg_ctl -D {self.data} start"
            say(f"postgres: kept {self.data}, stopped; start it with {ctl}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


# --------------------------------------------------------------------------- Redis


class RedisDb:
    """A Redis database number of our own: claimed with an owner key, flushed after."""

    def __init__(self, candidates: Iterable[int]):
        self.candidates = list(candidates)
        self.number: int | None = None
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    @property
    def url(self) -> str:
        return f"{REDIS_URL}/{self.number}"

    def _client(self, number: int):
        import redis

        return redis.Redis.from_url(f"{REDIS_URL}/{number}", socket_timeout=10)

    def claim(self) -> None:
        import redis

        tried = []
        for number in self.candidates:
            try:
                client = self._client(number)
                if not client.set(OWNER_KEY, self.owner, nx=True, ex=3600):
                    tried.append(f"{number}: taken by {client.get(OWNER_KEY)!r}")
                    continue
            except redis.RedisError as error:
                raise RuntimeError(f"Redis is not reachable at {REDIS_URL}: {error}") from error
            others = [k for k in client.scan_iter(count=1000) if k != OWNER_KEY.encode()]
            if others and not all(k.startswith(b"huey.") for k in others):
                client.delete(OWNER_KEY)  # someone else's data: leave it alone
                tried.append(f"{number}: not empty")
                continue
            # Empty, or only the job queue a crashed run of ours left behind.
            for key in others:
                client.delete(key)
            self.number = number
            return
        raise RuntimeError(f"no free Redis database among {self.candidates}: {tried}")

    def queue_length(self) -> int:
        """Jobs waiting in the huey queue (not the scheduled ones)."""
        assert self.number is not None
        return int(self._client(self.number).llen("huey.redis.npsloop"))

    def release(self) -> None:
        if self.number is None:
            return
        with contextlib.suppress(Exception):
            client = self._client(self.number)
            if client.get(OWNER_KEY) == self.owner.encode():
                client.flushdb()
        self.number = None


# --------------------------------------------------------------------------- SMTP


@dataclass
class Mail:
    at: float
    to: str
    message_id: str
    invitation_id: int | None
    html: str


class Mailbox:
    """aiosmtpd handler: records every accepted message; can hold DATA replies.

    While held, a message's DATA waits for its reply; `release()` answers every held
    message with 451 (a temporary refusal: the sender tries again later) or, with
    accept=True, with 250. A held message whose sender disconnects is never recorded
    (aiosmtpd cancels its handler).
    """

    def __init__(self) -> None:
        self.messages: list[Mail] = []
        self.lock = threading.Lock()
        self.holding = False
        self.accept_held = False
        self.held = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.holding:
            self.held += 1
            try:
                while self.holding:
                    await asyncio.sleep(0.02)
            finally:
                self.held -= 1
            if not self.accept_held:
                return "451 4.3.2 Please try again later"
        message = message_from_bytes(envelope.content, policy=policy.default)
        message_id = str(message.get("Message-ID", ""))
        found = INVITATION_MESSAGE_ID.search(message_id)
        body = message.get_body(("html",))
        mail = Mail(
            at=time.time(),
            to=",".join(envelope.rcpt_tos),
            message_id=message_id,
            invitation_id=int(found.group(1)) if found else None,
            html=body.get_content() if body is not None else "",
        )
        with self.lock:
            self.messages.append(mail)
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Mail]:
        with self.lock:
            return list(self.messages)


class SmtpServer:
    """An SMTP server on a fixed port of 127.0.0.1 that can be stopped and started."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.controller is not None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.mailbox.holding = False
        controller = Controller(
            self.mailbox, hostname="127.0.0.1", port=self.port, ready_timeout=60
        )
        deadline = time.monotonic() + 30
        while True:  # the old socket may linger a moment after a stop
            try:
                controller.start()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.controller = controller

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def hold(self) -> None:
        self.mailbox.accept_held = False
        self.mailbox.holding = True

    def release(self, *, accept: bool = False) -> None:
        self.mailbox.accept_held = accept
        self.mailbox.holding = False


# --------------------------------------------------------------------------- webhooks


@dataclass
class Hook:
    at: float
    webhook_id: str
    event_type: str
    response_id: int | None
    survey_id: int | None
    verified: bool
    mode: str


class WebhookReceiver:
    """An HTTP endpoint for webhooks on a fixed port: "up" (200), "slow" or stopped."""

    def __init__(self, slow_seconds: float = 3.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/npsloop"
        self.hooks: list[Hook] = []
        self.lock = threading.Lock()
        self.mode = "up"
        self.slow_seconds = slow_seconds
        self.secret = ""
        self.server: ThreadingHTTPServer | None = None

    def _verify(self, body: bytes, headers: dict[str, str]) -> bool:
        from standardwebhooks import Webhook

        try:
            Webhook(self.secret).verify(body, headers)
            return True
        except Exception:
            return False

    def start(self, mode: str = "up") -> None:
        receiver = self
        self.mode = mode

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    data = json.loads(body)
                except ValueError:
                    data = {}
                payload = data.get("data") or {}
                mode = receiver.mode
                hook = Hook(
                    at=time.time(),
                    webhook_id=headers.get("webhook-id", ""),
                    event_type=str(data.get("type", "")),
                    response_id=(payload.get("response") or {}).get("id"),
                    survey_id=(payload.get("survey") or {}).get("id"),
                    verified=receiver._verify(body, headers),
                    mode=mode,
                )
                with receiver.lock:
                    receiver.hooks.append(hook)
                if mode == "slow":
                    time.sleep(receiver.slow_seconds)
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        deadline = time.monotonic() + 30
        while True:
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def snapshot(self) -> list[Hook]:
        with self.lock:
            return list(self.hooks)


# --------------------------------------------------------------------------- processes


class Processes:
    """Every process we start, each in its own process group; all stopped on close."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen] = []

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL, no goodbye: what a crash, the OOM killer or a pulled plug does."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        if proc in self.running:
            self.running.remove(proc)

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # children of a dead leader
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.running):
            with contextlib.suppress(Exception):
                self.stop(proc)


def group_rss(pgid: int) -> dict[int, tuple[str, int]]:
    """pid → (command line, RSS in KiB) of every process in a process group."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:
                continue
            status = Path(entry.path, "status").read_text()
            rss = next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            cmd = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, ValueError, StopIteration):
            continue
        found[int(entry.name)] = (cmd, rss)
    return found


class Helper:
    """`python -m tests.reliability.helper`: the product's code, in a process of its own."""

    def __init__(self, env: dict[str, str], log: Path):
        self.log = log
        self.proc = subprocess.Popen(
            [PY, "-m", "tests.reliability.helper"],
            env={**env, "DB_CONN_MAX_AGE": "0"},
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("ab"),
            text=True,
            start_new_session=True,
        )
        self.lock = threading.Lock()
        self._read()  # "ready"

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@@ "):
                answer = json.loads(line[3:])
                if not answer["ok"]:
                    raise RuntimeError(f"helper failed:\n{answer['error']}")
                return answer["result"]
        raise RuntimeError(f"the helper exited ({self.proc.wait()}):\n{tail(self.log)}")

    def call(self, cmd: str, **kwargs: Any) -> Any:
        with self.lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"cmd": cmd, **kwargs}) + "\n")
            self.proc.stdin.flush()
            return self._read()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- the cluster


@dataclass
class Window:
    """A time span (time.time()) of one phase, or of a real outage of a dependency."""

    name: str
    start: float
    end: float = float("inf")

    def overlaps(self, start: float, end: float) -> bool:
        return start <= self.end and end >= self.start


@dataclass
class Survey:
    id: int
    key: str
    prefix: str


class Cluster:
    """Two web servers, two workers, PostgreSQL, Redis, SMTP and a webhook receiver.

    `postgres`: where the database is made: a PrivatePostgres (started here, stopped and
    removed on close; the only kind stop_postgres can restart) or, by default, an
    ExternalPostgres: the machine's server (RELIABILITY_PG_ADMIN_URL, else 127.0.0.1:5432).
    """

    PASSWORD = "reliability-password-1234"
    EMAIL = "owner@reliability.test"

    def __init__(
        self,
        *,
        name: str = "npsloop_reliability",
        redis_dbs: Iterable[int] = (13, 9, 8, 7),
        webs: int = 2,
        workers: int = 2,
        web_workers: int = 2,
        threads: int = 2,
        outbound_timeout: float = 3.0,
        claim_timeout: int = 3,
        log_dir: Path | None = None,
        extra_env: dict[str, str] | None = None,
        postgres: PrivatePostgres | ExternalPostgres | None = None,
    ):
        self.postgres = postgres or ExternalPostgres(EXTERNAL_PG_ADMIN_URL or DEFAULT_PG_ADMIN_URL)
        self.db = Database(name)
        self.redis = RedisDb(redis_dbs)
        self.smtp = SmtpServer()
        self.receiver = WebhookReceiver(slow_seconds=outbound_timeout + 1.5)
        self.procs = Processes()
        self.data_dir = Path(tempfile.mkdtemp(prefix="npsloop-reliability-"))
        self.log_dir = log_dir or self.data_dir
        self.web_ports = [free_port() for _ in range(webs)]
        self.servers = [f"http://127.0.0.1:{port}" for port in self.web_ports]
        self.web_procs: list[subprocess.Popen | None] = [None] * webs
        self.worker_procs: list[subprocess.Popen | None] = [None] * workers
        self.web_workers = web_workers
        self.threads = threads
        self.outbound_timeout = outbound_timeout
        self.claim_timeout = claim_timeout
        self.secret_key = secrets.token_urlsafe(50)
        self.extra_env = extra_env or {}
        self.helper: Helper | None = None
        self.org: dict[str, Any] = {}
        self.outages: list[Window] = []

    # ----------------------------------------------------------------- life cycle

    def env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in INHERITED if k in os.environ}
        env |= {
            "DJANGO_SETTINGS_MODULE": "npsloop.settings",
            "DATABASE_URL": self.db.url,
            "JOBS_URL": self.redis.url,
            "EMAIL_URL": self.smtp.url,
            "EMAIL_TIMEOUT": "30",  # an email held across a PostgreSQL stop must not time out
            "SECRET_KEY": self.secret_key,
            "BASE_URL": self.servers[0],
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "NPSLOOP_DATA_DIR": str(self.data_dir),
            "OUTBOUND_ALLOW": "127.0.0.1/32",
            "OUTBOUND_TIMEOUT": str(self.outbound_timeout),
            "NPSLOOP_CLAIM_TIMEOUT_SECONDS": str(self.claim_timeout),
            # Every click comes from 127.0.0.1: the per-address limit would refuse them.
            "RATING_RATE_LIMIT": "0",
            "WORKERS": str(self.threads),
            "WEB_WORKERS": str(self.web_workers),
            "DEBUG": "0",
            "PYTHONUNBUFFERED": "1",
        }
        return env | self.extra_env

    def start(self) -> None:
        started = time.monotonic()
        self.postgres.create()
        self.db.admin_url = self.postgres.admin_url
        self.db.create()
        self.redis.claim()
        self.smtp.start()
        self.receiver.start()
        env = self.env()
        say(f"cluster: database {self.db.url}, jobs {self.redis.url}, SMTP {self.smtp.url}")
        done = subprocess.run(
            [PY, "-m", "npsloop.cli", "migrate"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode:
            raise RuntimeError(f"npsloop migrate failed:\n{done.stdout}\n{done.stderr}")
        say(f"cluster: migrated in {time.monotonic() - started:.0f} s")
        for i in range(len(self.web_procs)):
            self.start_web(i, wait=False)
        for i in range(len(self.worker_procs)):
            self.start_worker(i, wait=False)
        self.helper = Helper(env, self.log_dir / "helper.log")
        self.org = self.helper.call(
            "setup_org",
            name="Reliability Inc",
            email=self.EMAIL,
            password=self.PASSWORD,
            receiver_url=self.receiver.url,
        )
        self.receiver.secret = self.org["secret"]
        for i in range(len(self.web_procs)):
            self.wait_web(i)
        for i in range(len(self.worker_procs)):
            self.wait_worker(i)
        say(
            f"cluster: {self.servers} and {len(self.worker_procs)} workers up after "
            f"{time.monotonic() - started:.0f} s"
        )

    def close(self) -> None:
        """Stop everything we started, whatever state it is in, PostgreSQL last."""
        if self.helper is not None:
            self.helper.close()
        # Workers first with SIGINT (huey finishes running jobs), then the web servers.
        for proc in self.worker_procs:
            if proc is not None:
                with contextlib.suppress(Exception):
                    self.procs.stop(proc, signal.SIGINT)
        self.procs.stop_all()
        with contextlib.suppress(Exception):
            self.smtp.stop()
        with contextlib.suppress(Exception):
            self.receiver.stop()
        self.redis.release()
        keep = bool(os.environ.get("RELIABILITY_KEEP"))
        if isinstance(self.postgres, PrivatePostgres):
            # The whole server goes: no need to drop the database first.
            self.postgres.destroy(keep=keep, log_to=self.log_dir)
        elif not keep:
            self.db.drop()
        if keep:
            say(f"cluster: kept database {self.db.name} and {self.data_dir} (RELIABILITY_KEEP)")
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # ----------------------------------------------------------------- processes

    def web_log(self, i: int) -> Path:
        return self.log_dir / f"web{i + 1}.log"

    def worker_log(self, i: int) -> Path:
        return self.log_dir / f"worker{i + 1}.log"

    def start_web(self, i: int, wait: bool = True) -> None:
        argv = [PY, "-m", "npsloop.cli", "serve", "--no-worker", "--host", "127.0.0.1"]
        argv += ["--port", str(self.web_ports[i]), "--web-workers", str(self.web_workers)]
        self.web_procs[i] = self.procs.start(argv, self.env(), self.web_log(i))
        if wait:
            self.wait_web(i)

    def wait_web(self, i: int, timeout: float = 180) -> None:
        import httpx

        proc, log = self.web_procs[i], self.web_log(i)

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"web server {i + 1} exited ({proc.returncode}):\n{tail(log)}")
            try:
                return httpx.get(self.servers[i] + "/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout, f"web server {i + 1} to answer", every=0.3)
        # Each gunicorn process loads its views on its first requests (seconds here):
        # not part of what is measured.
        with httpx.Client(timeout=60) as client:
            for _ in range(2 * self.web_workers):
                client.get(self.servers[i] + "/r/warm-up/")
                client.post(self.servers[i] + "/segment/v1/identify", content=b"{}")

    def start_worker(self, i: int, wait: bool = True) -> None:
        log = self.worker_log(i)
        with log.open("a") as out:
            out.write(f"---- started at {time.strftime('%H:%M:%S')}\n")
        self.worker_procs[i] = self.procs.start(
            [PY, "-m", "npsloop.cli", "worker"], self.env(), log
        )
        if wait:
            self.wait_worker(i)

    def wait_worker(self, i: int, timeout: float = 180) -> None:
        """Until the worker has run its start-up reconcile (it prints "worker: events …")."""
        proc, log = self.worker_procs[i], self.worker_log(i)

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {i + 1} exited ({proc.returncode}):\n{tail(log)}")
            text = log.read_text(errors="replace")
            return "worker: events" in text.rsplit("---- started at", 1)[-1]

        wait_for(ready, timeout, f"worker {i + 1} to start", every=0.3)

    def kill_worker(self, i: int) -> None:
        proc = self.worker_procs[i]
        assert proc is not None
        self.procs.kill(proc)
        self.worker_procs[i] = None

    def alive(self) -> dict[str, bool]:
        alive = {
            f"web{i + 1}": p is not None and p.poll() is None for i, p in enumerate(self.web_procs)
        }
        alive |= {
            f"worker{i + 1}": p is not None and p.poll() is None
            for i, p in enumerate(self.worker_procs)
        }
        return alive

    def pgids(self) -> dict[str, int]:
        named = {f"web{i + 1}": p for i, p in enumerate(self.web_procs)}
        named |= {f"worker{i + 1}": p for i, p in enumerate(self.worker_procs)}
        return {name: p.pid for name, p in named.items() if p is not None and p.poll() is None}

    # ----------------------------------------------------------------- product set-up

    def new_survey(self, name: str, prefix: str) -> Survey:
        assert self.helper is not None
        created = self.helper.call(
            "new_survey", organization_id=self.org["organization_id"], name=name
        )
        return Survey(id=created["id"], key=created["key"], prefix=prefix)

    def tick(self) -> dict[str, Any]:
        """The test's clock: see helper.py."""
        assert self.helper is not None
        return self.helper.call("tick")

    # ----------------------------------------------------------------- faults

    def in_window(self) -> set[int]:
        """Invitations the SMTP server accepted whose row still says "sending".

        A worker between the server's 250 and its UPDATE to "sent": the one window the
        product documents as at-least-once (docs/survey-loop.md), where a crash means
        the email is sent again.
        """
        accepted = {m.invitation_id for m in self.smtp.mailbox.snapshot() if m.invitation_id}
        sending = {
            row[0]
            for row in self.db.rows("SELECT id FROM invitations_invitation WHERE state = 'sending'")
        }
        return accepted & sending

    def quiesce_smtp(self, timeout: float = 30) -> None:
        """Hold every new DATA reply and wait until no invitation is in the window."""
        self.smtp.hold()
        wait_for(lambda: not self.in_window(), timeout, "sends between 250 and 'sent'", 0.1)

    def stop_postgres(self) -> Window:
        """Stop the suite's own PostgreSQL server (never the machine's: see ExternalPostgres)."""
        outage = Window("PostgreSQL down", time.time())
        self.outages.append(outage)
        self.postgres.stop()
        return outage

    def start_postgres(self, outage: Window, grace: float = 2.0) -> None:
        self.postgres.start()
        # Requests that began before PostgreSQL answered may end a moment later.
        outage.end = time.time() + grace


# --------------------------------------------------------------------------- HTTP log


@dataclass
class Call:
    endpoint: str
    server: int
    start: float
    end: float
    status: int | str  # the HTTP status, or the name of the transport error


class HttpLog:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def snapshot(self) -> list[Call]:
        with self.lock:
            return list(self.calls)


def timed(log: HttpLog, endpoint: str, server: int, send: Callable[[], Any]) -> Any:
    """Send one request; log its status (or error name) with its start and end."""
    import httpx

    start = time.time()
    try:
        answer = send()
    except httpx.HTTPError as error:
        log.add(Call(endpoint, server, start, time.time(), type(error).__name__))
        return None
    log.add(Call(endpoint, server, start, time.time(), answer.status_code))
    return answer


# --------------------------------------------------------------------------- Segment load


FIRST = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas"]
LAST = ["Schmidt", "Meyer", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann", "Koch"]


class IngestLoad:
    """Segment identify calls to the web servers in turn, as analytics libraries send them.

    New people one by one (`/v1/identify`) and in batches (`/v1/batch`); some people
    identified twice in a row with different messageIds (a browser and a backend at
    sign-up); and (e) events already answered 200 sent again, alone, in batches of their
    own or mixed into new ones. A call answered 5xx or not at all is sent again, like
    Segment's libraries do, until it is answered 200. Every event and its answer is kept.
    """

    def __init__(
        self,
        servers: list[str],
        survey: Survey,
        log: HttpLog,
        *,
        interval: float = 0.25,
        batch_size: int = 5,
        seed: int = 1,
    ):
        self.servers = servers
        self.survey = survey
        self.log = log
        self.interval = interval
        self.batch_size = batch_size
        self.rnd = random.Random(seed)
        self.sent: dict[str, dict[str, Any]] = {}  # messageId → event
        self.accepted: set[str] = set()
        self.accepted_at: list[tuple[float, int]] = []  # (when, events accepted for the first time)
        self.users: dict[str, str] = {}  # userId → email
        self.resent = 0  # events sent again after their 200 (e)
        self.retried = 0  # events sent again after a 5xx or a transport error
        self.rejected: list[tuple[str, Any]] = []  # answers that refused a valid event
        self.retry: list[tuple[float, int, str, list[dict[str, Any]]]] = []
        self.counter = 0
        self.calls = 0
        self.lock = threading.Lock()  # `accepted` is read while draining
        self.stop_new = threading.Event()
        self.stop_all = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ingest", daemon=True)

    def start(self) -> IngestLoad:
        self.thread.start()
        return self

    @property
    def finished(self) -> bool:
        """No new events any more and every event sent has been answered 200."""
        with self.lock:
            return self.stop_new.is_set() and not self.retry and self.sent.keys() <= self.accepted

    def stop(self, timeout: float = 60) -> None:
        self.stop_new.set()
        with contextlib.suppress(AssertionError):
            wait_for(lambda: self.finished or not self.thread.is_alive(), timeout, "retries")
        self.stop_all.set()
        self.thread.join(timeout=30)

    def _event(self, user: str | None = None) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        if user is None:
            self.counter += 1
            user = f"{self.survey.prefix}-u{self.counter}"
            self.users[user] = f"{self.survey.prefix}.u{self.counter}@example.com"
        first, last = self.rnd.choice(FIRST), self.rnd.choice(LAST)
        event = {
            "type": "identify",
            "messageId": str(uuid.uuid4()),
            "userId": user,
            "anonymousId": None,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "traits": {
                "email": self.users[user],
                "firstName": first,
                "lastName": last,
                "createdAt": (now - dt.timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
                "plan": self.rnd.choice(["free", "pro", "enterprise"]),
            },
            "context": {"locale": "en-US", "library": {"name": "reliability", "version": "1"}},
            "integrations": {},
        }
        with self.lock:
            self.sent[event["messageId"]] = event
        return event

    def _again(self, k: int) -> list[dict[str, Any]]:
        """k events already answered 200, to send again (e)."""
        with self.lock:
            ids = self.rnd.sample(sorted(self.accepted), min(k, len(self.accepted)))
        self.resent += len(ids)
        return [self.sent[i] for i in ids]

    def _next(self) -> tuple[str, list[dict[str, Any]]]:
        r = self.rnd.random()
        if r < 0.40 or not self.accepted:
            return "identify", [self._event()]
        if r < 0.80:
            events = [self._event()]
            if self.rnd.random() < 0.6:  # the same person twice at sign-up (browser, backend)
                events.append(self._event(events[0]["userId"]))
            events += [self._event() for _ in range(self.batch_size - 1)]
            if self.rnd.random() < 0.3:  # (e) one event of an earlier batch again
                events += self._again(1)
            return "batch", events
        if r < 0.92:
            return "identify", self._again(1)  # (e) a single call delivered twice
        return "batch", self._again(self.batch_size)  # (e) a whole batch again

    def _send(self, attempt: int, path: str, events: list[dict[str, Any]]) -> None:
        server = self.calls % len(self.servers)
        self.calls += 1
        url = self.servers[server] + "/segment/v1/" + path
        if path == "identify":
            body = events[0]
        else:
            body = {"batch": events, "sentAt": dt.datetime.now(dt.UTC).isoformat()}
        auth = "Basic " + base64.b64encode(f"{self.survey.key}:".encode()).decode()
        answer = timed(
            self.log,
            path,
            server,
            lambda: self.client.post(
                url,
                content=json.dumps(body),
                headers={"Authorization": auth, "Content-Type": "application/json"},
            ),
        )
        if answer is not None and answer.status_code == 200:
            data = answer.json()
            if data.get("success") and data.get("accepted") == len(events):
                with self.lock:
                    fresh = {e["messageId"] for e in events} - self.accepted
                    self.accepted.update(fresh)
                    self.accepted_at.append((time.time(), len(fresh)))
            else:
                self.rejected.append((path, data))
            return
        if answer is not None and answer.status_code < 500 and answer.status_code != 429:
            self.rejected.append((path, f"{answer.status_code} {answer.text[:300]}"))
            return
        # 5xx, 429 or no answer: nothing may have been stored; send it again later.
        self.retried += len(events)
        due = time.monotonic() + min(0.5 * 2**attempt, 4.0)
        heapq.heappush(self.retry, (due, attempt + 1, path, events))

    def _run(self) -> None:
        import httpx

        self.client = httpx.Client(timeout=30)
        next_new = time.monotonic()
        while not self.stop_all.is_set():
            now = time.monotonic()
            if self.retry and self.retry[0][0] <= now:
                _due, attempt, path, events = heapq.heappop(self.retry)
                self._send(attempt, path, events)
            elif not self.stop_new.is_set() and now >= next_new:
                path, events = self._next()
                self._send(0, path, events)
                next_new = now + self.interval
            else:
                time.sleep(0.02)


# --------------------------------------------------------------------------- rating clicks


@dataclass(order=True)
class ClickTask:
    due: float
    seq: int
    invitation_id: int = field(compare=False)
    url: str = field(compare=False)  # the rating link of the score in the email
    action: str = field(compare=False)  # "record" (the page's script) or "comment" (Send)
    score: int = field(compare=False)
    attempt: int = field(compare=False, default=0)
    then: list[tuple[str, int]] = field(compare=False, default_factory=list)


class Clicker:
    """Customers reading their survey email: a click on a score, the page records it.

    For each new email to one of `prefix`'s addresses, 0 to `reading` seconds after it
    arrived: GET the rating link of a score (from either web server), then POST the
    score to the page's record URL with its CSRF token, as rate.js does. Some
    customers then pick another score, some write a comment and press Send (the
    no-JavaScript form). A click answered otherwise than expected is tried again a
    moment later.
    """

    def __init__(
        self,
        mailbox: Mailbox,
        servers: list[str],
        prefix: str,
        log: HttpLog,
        *,
        threads: int = 3,
        seed: int = 2,
        reading: float = 3.0,
    ):
        self.mailbox = mailbox
        self.reading = reading  # a customer opens the email 0 to `reading` s after it came
        self.servers = servers
        self.prefix = prefix
        self.log = log
        self.rnd = random.Random(seed)
        self.seen = 0  # emails looked at
        self.emails: dict[int, int] = Counter()  # invitation id → emails of ours received
        self.expected: dict[int, int] = {}  # invitation id → the score of its last click
        self.clicked: set[int] = set()  # invitations whose every click succeeded
        self.failed_clicks = 0  # clicks tried again
        self.queue: list[ClickTask] = []
        self.cond = threading.Condition()
        self.busy = 0
        self.seq = 0
        self.calls = 0
        self.stopping = threading.Event()
        # While set, the customers of newly arrived emails read them later: their
        # clicks wait in `deferred` until resume().
        self.deferring = threading.Event()
        self.deferred: list[ClickTask] = []
        self.threads = [
            threading.Thread(target=self._work, name=f"clicker{i}", daemon=True)
            for i in range(threads)
        ]
        self.poller = threading.Thread(target=self._poll, name="clicker-poll", daemon=True)

    def start(self) -> Clicker:
        for thread in [self.poller, *self.threads]:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self.cond:
            self.cond.notify_all()
        for thread in [self.poller, *self.threads]:
            thread.join(timeout=30)

    def defer(self) -> None:
        self.deferring.set()

    def resume(self) -> int:
        """Click the deferred emails now; returns how many there were."""
        with self.cond:
            self.deferring.clear()
            deferred, self.deferred = self.deferred, []
        for task in deferred:
            task.due = time.monotonic()
            self._push(task)
        return len(deferred)

    @property
    def idle(self) -> bool:
        """Every email received so far has been clicked to the end."""
        with self.cond:
            return not self.queue and not self.busy and self.seen == len(self.mailbox.messages)

    def _push(self, task: ClickTask) -> None:
        with self.cond:
            self.seq += 1
            task.seq = self.seq
            heapq.heappush(self.queue, task)
            self.cond.notify()

    def _poll(self) -> None:
        while not self.stopping.is_set():
            mails = self.mailbox.snapshot()
            for mail in mails[self.seen :]:
                if mail.to.startswith(self.prefix + ".") and mail.invitation_id:
                    self._plan(mail)
            with self.cond:
                self.seen = len(mails)
            time.sleep(0.1)

    def _plan(self, mail: Mail) -> None:
        invitation = mail.invitation_id
        assert invitation is not None
        self.emails[invitation] += 1
        if self.emails[invitation] > 1:
            return  # a second copy of an email: the customer rated with the first
        links = dict((int(score), url) for url, score in RATING_LINK.findall(mail.html))
        if len(links) != 11:
            return  # tally() reports the email as not clicked
        score = self.rnd.randrange(11)
        then: list[tuple[str, int]] = []
        r = self.rnd.random()
        if r < 0.15:
            then.append(("record", (score + 3) % 11))  # changed their mind
        elif r < 0.25:
            then.append(("comment", score))  # wrote a comment and pressed Send
        self.expected[invitation] = score
        due = time.monotonic() + self.rnd.uniform(0, self.reading)
        task = ClickTask(due, 0, invitation, links[score], "record", score, then=then)
        with self.cond:
            if self.deferring.is_set():
                self.deferred.append(task)
                return
        self._push(task)

    def _work(self) -> None:
        import httpx

        # One client per thread (making one costs more than a request here); each
        # customer starts without cookies.
        client = httpx.Client(timeout=30, follow_redirects=False)
        while True:
            with self.cond:
                while not self.stopping.is_set():
                    if self.queue and self.queue[0].due <= time.monotonic():
                        task = heapq.heappop(self.queue)
                        self.busy += 1
                        break
                    wait = self.queue[0].due - time.monotonic() if self.queue else 0.2
                    self.cond.wait(timeout=max(0.01, min(wait, 0.2)))
                else:
                    return
            try:
                client.cookies.clear()
                ok = self._click(client, task)
            except Exception:
                ok = False
            with self.cond:
                self.busy -= 1
            if not ok:
                self.failed_clicks += 1
                task.attempt += 1
                task.due = time.monotonic() + min(0.5 * 2**task.attempt, 4.0)
                self._push(task)
            elif task.then:
                # On the same page: another score (the script records it), or Send.
                action, score = task.then.pop(0)
                self.expected[task.invitation_id] = score
                self._push(
                    ClickTask(
                        time.monotonic() + 0.2,
                        0,
                        task.invitation_id,
                        task.url,
                        action,
                        score,
                        then=task.then,
                    )
                )
            else:
                with self.cond:
                    self.clicked.add(task.invitation_id)

    def _click(self, client: Any, task: ClickTask) -> bool:
        server = self.calls % len(self.servers)
        self.calls += 1
        base = urlsplit(self.servers[server])
        parts = urlsplit(task.url)
        page_url = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
        page = timed(self.log, "rate page", server, lambda: client.get(page_url))
        if page is None or page.status_code != 200:
            return False
        token = CSRF_INPUT.search(page.text)
        record = RECORD_URL.search(page.text)
        if not token or not record:
            return False
        if task.action == "record":
            answer = timed(
                self.log,
                "rate record",
                server,
                lambda: client.post(
                    f"{base.scheme}://{base.netloc}{record.group(1)}",
                    data={"score": str(task.score)},
                    headers={"X-CSRFToken": token.group(1)},
                ),
            )
            return (
                answer is not None
                and answer.status_code == 200
                and answer.json().get("recorded") is True
                and answer.json().get("score") == task.score
            )
        answer = timed(
            self.log,
            "rate comment",
            server,
            lambda: client.post(
                page_url,
                data={
                    "csrfmiddlewaretoken": token.group(1),
                    "score": str(task.score),
                    "comment": f"Comment on invitation {task.invitation_id}: works well.",
                },
            ),
        )
        return answer is not None and answer.status_code == 302


# --------------------------------------------------------------------------- counting


@dataclass
class Row:
    what: str
    sent: int
    received: int
    lost: int
    duplicated: int
    note: str = ""


@dataclass
class Tally:
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    http: list[list[str]] = field(default_factory=list)

    def problem(self, condition: bool, message: str) -> None:
        if condition:
            self.problems.append(message)

    def table(self, title: str) -> str:
        lines = [title, ""]
        header = ["", "sent", "received", "lost", "duplicated", ""]
        body = [
            [r.what, str(r.sent), str(r.received), str(r.lost), str(r.duplicated), r.note]
            for r in self.rows
        ]
        lines += _format([header, *body], left={0, 5})
        if self.http:
            lines += ["", "HTTP requests by endpoint:"]
            header = [
                "endpoint",
                "requests",
                "2xx/3xx",
                "5xx in outage",
                "5xx other",
                "errors in outage",
                "other",
                "p50 ms",
                "p99 ms",
            ]
            lines += _format([header, *self.http], left={0})
        if self.facts:
            lines += [""] + [f"{k}: {v}" for k, v in self.facts.items()]
        lines += ["", "PROBLEMS:" if self.problems else "no problems found"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _format(rows: list[list[str]], left: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append(
            "  ".join(
                c.ljust(w) if i in left else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def percentile(values: list[float], p: float) -> str:
    """The p-th percentile of durations in seconds, as milliseconds."""
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000:.0f}"


def _when(at: float, phases: Iterable[Window]) -> str:
    """A moment, with the phase of the test it fell in."""
    inside = [w.name for w in phases if w.start <= at <= w.end]
    return _clock(at) + (f" in {inside[-1]}" if inside else " while draining")


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _sample(items: Iterable[Any], n: int = 8) -> str:
    items = sorted(items)
    more = f" … (+{len(items) - n})" if len(items) > n else ""
    return ", ".join(str(i) for i in items[:n]) + more


def drain_state(cluster: Cluster, survey: Survey) -> dict[str, int]:
    row = cluster.db.rows(
        """
        SELECT
          (SELECT count(*) FROM ingest_ingestevent
            WHERE survey_id = %(s)s AND state IN ('new', 'processing')),
          (SELECT count(*) FROM invitations_invitation
            WHERE survey_id = %(s)s AND state IN ('scheduled', 'sending')),
          (SELECT count(*) FROM responses_response WHERE survey_id = %(s)s),
          (SELECT count(*) FROM notifications_delivery d
             JOIN responses_response r ON r.id = d.response_id WHERE r.survey_id = %(s)s),
          (SELECT count(*) FROM notifications_delivery d
             JOIN responses_response r ON r.id = d.response_id
            WHERE r.survey_id = %(s)s AND d.state IN ('scheduled', 'sending'))
        """,
        {"s": survey.id},
    )[0]
    keys = [
        "events_pending",
        "invitations_pending",
        "responses",
        "deliveries",
        "deliveries_pending",
    ]
    return dict(zip(keys, row, strict=True))


def drain(
    cluster: Cluster,
    survey: Survey,
    ingest: IngestLoad,
    clicker: Clicker,
    *,
    timeout: float,
    tick_every: float = 3.0,
    use_clock: bool = True,
) -> tuple[bool, float, int]:
    """Wait until everything sent has arrived everywhere; returns (drained, seconds, ticks).

    With `use_clock`, the test's clock (Cluster.tick) lets retry and reconciler
    waiting times pass every `tick_every` seconds.
    """
    started = time.monotonic()
    ingest.stop()
    last_tick = started
    ticks = 0
    while True:
        state = drain_state(cluster, survey)
        hooks = {
            h.webhook_id
            for h in cluster.receiver.snapshot()
            if h.survey_id == survey.id and h.event_type == "response.created"
        }
        done = (
            ingest.finished
            and state["events_pending"] == 0
            and state["invitations_pending"] == 0
            and clicker.idle
            and state["responses"] == len(clicker.clicked)
            and state["deliveries"] >= state["responses"]
            and state["deliveries_pending"] == 0
            and len(hooks) >= state["responses"]
        )
        if done:
            return True, time.monotonic() - started, ticks
        now = time.monotonic()
        if now - started > timeout:
            say(
                f"drain: not done after {timeout:.0f} s: {state}, clicker idle {clicker.idle}, "
                f"ingest finished {ingest.finished}, webhooks {len(hooks)}"
            )
            return False, now - started, ticks
        # Time passes when the workers have taken every job there is: a tick enqueues
        # every due row again, and on a queue still being worked through that is only
        # more of the same (while the workers work, there is progress without it).
        if use_clock and now - last_tick >= tick_every and cluster.redis.queue_length() == 0:
            began = time.monotonic()
            result = cluster.tick()
            ticks += 1
            say(
                f"drain: {now - started:.0f} s, {state}, webhooks {len(hooks)}, clicks "
                f"{len(clicker.clicked)}, clicker idle {clicker.idle}, ingest finished "
                f"{ingest.finished}; tick {time.monotonic() - began:.1f} s: {result}"
            )
            last_tick = time.monotonic()
        time.sleep(0.3)


def tally(
    cluster: Cluster,
    survey: Survey,
    ingest: IngestLoad,
    clicker: Clicker,
    log: HttpLog,
    *,
    strict: bool = False,
    phases: Iterable[Window] = (),
) -> Tally:
    """Count what was sent and what arrived, from both ends; `problems` lists every miss.

    strict (no faults): also every row handled in one attempt, every webhook received
    once, and no answer but 2xx/3xx at all.
    """
    t = Tally()
    db = cluster.db
    s = {"s": survey.id}

    # ---- Segment events: accepted (200) → stored → processed once
    events = {
        mid: (state, error)
        for mid, state, error in db.rows(
            "SELECT message_id, state, error FROM ingest_ingestevent WHERE survey_id = %(s)s", s
        )
    }
    decisions = Counter(
        dict(
            db.rows(
                "SELECT event_ref, count(*) FROM invitations_decision WHERE survey_id = %(s)s "
                "GROUP BY event_ref",
                s,
            )
        )
    )
    accepted = ingest.accepted
    lost = accepted - set(events)
    failed = {m for m in accepted & set(events) if events[m][0] == "failed"}
    stuck = {m for m in accepted & set(events) if events[m][0] in ("new", "processing")}
    twice = {m for m, n in decisions.items() if n > 1}
    never_decided = {m for m, (state, _e) in events.items() if state == "done"} - set(decisions)
    unknown = set(events) - set(ingest.sent)
    t.rows.append(
        Row(
            "identify events (accepted 200 → stored)",
            len(accepted),
            len(set(events) & accepted),
            len(lost),
            0,
            f"{ingest.resent} sent again after their 200 (e), {ingest.retried} after a 5xx",
        )
    )
    t.rows.append(
        Row(
            "identify events processed (→ decision)",
            len(accepted),
            sum(1 for m in accepted if decisions.get(m)),
            len(failed | stuck | never_decided),
            len(twice),
            f"failed {len(failed)}, stuck {len(stuck)}",
        )
    )
    t.problem(bool(lost), f"{len(lost)} accepted events not stored: {_sample(lost)}")
    t.problem(bool(ingest.rejected), f"valid events refused: {ingest.rejected[:3]}")
    reasons: dict[str, list[str]] = defaultdict(list)
    for m in failed:
        # IngestEvent.error is repr(exception): its first line names it.
        reasons[events[m][1].split("\\n")[0][:160]].append(ingest.sent[m]["userId"])
    t.problem(
        bool(failed),
        f"{len(failed)} accepted events failed in processing (IngestEvent state 'failed'): "
        + "; ".join(f"{len(u)} x {r} (people {_sample(u, 4)})" for r, u in reasons.items()),
    )
    t.problem(bool(stuck), f"{len(stuck)} accepted events never processed: {_sample(stuck)}")
    t.problem(bool(twice), f"{len(twice)} events processed twice: {_sample(twice)}")
    t.problem(bool(never_decided), f"{len(never_decided)} done events without a decision")
    t.problem(bool(unknown), f"{len(unknown)} stored events nobody sent")
    t.problem(
        ingest.sent.keys() != accepted,
        "events never answered 200: " + _sample(set(ingest.sent) - accepted),
    )

    # ---- contacts: one per person
    users = {ingest.sent[m]["userId"] for m in accepted}
    contacts = Counter(
        dict(
            db.rows(
                "SELECT external_id, count(*) FROM contacts_contact "
                "WHERE organization_id = %(o)s AND external_id LIKE %(p)s GROUP BY external_id",
                {"o": cluster.org["organization_id"], "p": survey.prefix + "-%"},
            )
        )
    )
    no_contact = users - set(contacts)
    dup_contacts = {u for u, n in contacts.items() if n > 1}
    t.rows.append(
        Row("people → contacts", len(users), len(contacts), len(no_contact), len(dup_contacts))
    )
    t.problem(
        bool(no_contact), f"{len(no_contact)} people without a contact: " + _sample(no_contact)
    )
    t.problem(bool(dup_contacts), f"{len(dup_contacts)} people with 2+ contacts")

    # ---- invitations: one per person, sent, one email each
    invitations = db.rows(
        """
        SELECT i.id, c.external_id, i.state, i.attempts,
               (SELECT count(*) FROM invitations_invitationevent e
                 WHERE e.invitation_id = i.id AND e.kind = 'sent'),
               (SELECT count(*) FROM mail_outboundemail m
                 WHERE m.ref = 'invitation:' || i.id AND m.status = 'sent'),
               i.sent_at IS NOT NULL
          FROM invitations_invitation i JOIN contacts_contact c ON c.id = i.contact_id
         WHERE i.survey_id = %(s)s
        """,
        s,
    )
    per_user = Counter(row[1] for row in invitations)
    ids = {row[0] for row in invitations}
    state_of = {row[0]: row[2] for row in invitations}
    never_invited = users - set(per_user)
    invited_twice = {u for u, n in per_user.items() if n > 1}
    not_sent = {i for i, st in state_of.items() if st not in ("sent", "responded")}
    mails = [m for m in cluster.smtp.mailbox.snapshot() if m.invitation_id in ids]
    strays = [
        m
        for m in cluster.smtp.mailbox.snapshot()
        if m.to.startswith(survey.prefix + ".") and m.invitation_id not in ids
    ]
    per_invitation = Counter(m.invitation_id for m in mails)
    never_emailed = ids - set(per_invitation)
    emailed_twice = {i for i, n in per_invitation.items() if n > 1}
    t.rows.append(
        Row(
            "invitations (one per person)",
            len(users),
            len(per_user),
            len(never_invited),
            len(invited_twice),
        )
    )
    t.rows.append(
        Row(
            "invitation emails (SMTP server)",
            len(ids),
            len(per_invitation),
            len(never_emailed),
            sum(n - 1 for n in per_invitation.values()),
            f"distinct Message-IDs {len({m.message_id for m in mails})}; states "
            + ", ".join(f"{k} {v}" for k, v in sorted(Counter(state_of.values()).items())),
        )
    )
    t.problem(
        bool(never_invited), f"{len(never_invited)} people never invited: " + _sample(never_invited)
    )
    t.problem(
        bool(invited_twice), f"{len(invited_twice)} people invited twice: " + _sample(invited_twice)
    )
    t.problem(
        bool(not_sent),
        f"{len(not_sent)} invitations not sent: " + _sample(f"{i}:{state_of[i]}" for i in not_sent),
    )
    t.problem(
        bool(never_emailed),
        f"{len(never_emailed)} invitations never emailed: " + _sample(never_emailed),
    )
    t.problem(
        bool(emailed_twice),
        f"{len(emailed_twice)} invitations emailed twice (invitation: when each copy "
        "arrived): "
        + "; ".join(
            f"{i}: " + ", ".join(_when(m.at, phases) for m in mails if m.invitation_id == i)
            for i in sorted(emailed_twice)[:5]
        ),
    )
    t.problem(bool(strays), f"{len(strays)} emails for unknown invitations")
    # The product's own record of each email must agree with the SMTP server.
    recorded = {row[0]: row[5] for row in invitations}
    disagree = {i for i in ids if recorded[i] != per_invitation.get(i, 0)}
    unmarked = {row[0] for row in invitations if row[0] in per_invitation and not row[6]}
    t.rows.append(
        Row(
            "emails recorded as sent (OutboundEmail)",
            sum(per_invitation.values()),
            sum(recorded.values()),
            len(disagree),
            0,
            f"{len(unmarked)} emailed invitations without sent_at",
        )
    )
    t.problem(
        bool(disagree),
        f"{len(disagree)} invitations whose OutboundEmail rows say "
        "otherwise than the SMTP server (invitation: recorded sent/received): "
        + _sample(f"{i}:{recorded[i]}/{per_invitation.get(i, 0)}" for i in disagree),
    )
    t.problem(
        bool(unmarked),
        f"{len(unmarked)} emailed invitations never marked sent "
        "(sent_at empty): " + _sample(unmarked),
    )
    retried_invitations = sum(1 for row in invitations if row[3] > 1)
    t.facts["invitations sent after a retry"] = retried_invitations

    # ---- rating clicks → responses
    responses = {
        inv: (rid, score)
        for rid, inv, score in db.rows(
            "SELECT id, invitation_id, score FROM responses_response WHERE survey_id = %(s)s", s
        )
    }
    clicked = set(clicker.clicked)
    no_response = clicked - set(responses)
    wrong_score = {
        i for i in clicked & set(responses) if responses[i][1] != clicker.expected.get(i)
    }
    unclicked = set(per_invitation) - clicked
    t.rows.append(
        Row(
            "rating clicks → responses",
            len(clicked),
            len(clicked & set(responses)),
            len(no_response),
            0,
            f"{clicker.failed_clicks} clicks tried again; {len(wrong_score)} with a wrong score",
        )
    )
    t.problem(bool(no_response), f"{len(no_response)} clicks without a response")
    t.problem(bool(wrong_score), f"{len(wrong_score)} responses without the last score clicked")
    t.problem(bool(unclicked), f"{len(unclicked)} emails whose rating could not be clicked")
    t.problem(bool(set(responses) - clicked), "responses nobody clicked for")

    # ---- webhooks: one response.created per response, signed
    response_ids = {rid for rid, _score in responses.values()}
    hooks = [h for h in cluster.receiver.snapshot() if h.survey_id == survey.id]
    created = [h for h in hooks if h.event_type == "response.created"]
    ids_per_response: dict[int, set[str]] = defaultdict(set)
    for h in created:
        ids_per_response[h.response_id].add(h.webhook_id)
    hook_lost = response_ids - set(ids_per_response)
    hook_dup = {r for r, ids in ids_per_response.items() if len(ids) > 1}
    hook_strays = set(ids_per_response) - response_ids
    arrivals = Counter(h.webhook_id for h in created)
    redelivered = {i for i, n in arrivals.items() if n > 1}
    unverified = [h for h in hooks if not h.verified]
    others = Counter(h.event_type for h in hooks if h.event_type != "response.created")
    deliveries = db.rows(
        """
        SELECT d.response_id, d.state, d.attempts
          FROM notifications_delivery d JOIN responses_response r ON r.id = d.response_id
         WHERE r.survey_id = %(s)s
        """,
        s,
    )
    t.rows.append(
        Row(
            "webhooks (distinct webhook-id per response)",
            len(response_ids),
            len(set(ids_per_response) & response_ids),
            len(hook_lost),
            len(hook_dup),
            f"{len(created)} POSTs; {len(redelivered)} webhook-ids delivered again "
            "(same id: receivers deduplicate)",
        )
    )
    t.problem(
        bool(hook_lost), f"{len(hook_lost)} responses without a webhook: " + _sample(hook_lost)
    )
    t.problem(bool(hook_dup), f"{len(hook_dup)} responses with 2+ different webhook-ids")
    t.problem(bool(hook_strays), f"webhooks for unknown responses: {_sample(hook_strays)}")
    t.problem(bool(unverified), f"{len(unverified)} webhooks with a bad signature")
    t.problem(bool(others), f"unexpected webhook events: {dict(others)}")
    t.problem(
        any(state != "delivered" for _r, state, _a in deliveries),
        "deliveries not delivered: "
        + str(Counter(state for _r, state, _a in deliveries if state != "delivered")),
    )
    t.facts["webhook deliveries retried"] = sum(1 for _r, _s, a in deliveries if a > 1)

    # ---- HTTP answers: 5xx only during a real outage
    calls = log.snapshot()
    outages = cluster.outages
    by_endpoint: dict[str, Counter] = defaultdict(Counter)
    latencies: dict[str, list[float]] = defaultdict(list)
    outside = []
    for c in calls:
        during = any(w.overlaps(c.start, c.end) for w in outages)
        if isinstance(c.status, int) and c.status < 400:
            kind = "ok"
            latencies[c.endpoint].append(c.end - c.start)
        elif isinstance(c.status, int) and c.status >= 500:
            kind = "5xx outage" if during else "5xx"
        elif isinstance(c.status, str):
            kind = "error outage" if during else "other"
        else:
            kind = "other"
        by_endpoint[c.endpoint][kind] += 1
        if kind in ("5xx", "other"):
            outside.append(c)
    for endpoint, n in sorted(by_endpoint.items()):
        t.http.append(
            [
                endpoint,
                str(sum(n.values())),
                str(n["ok"]),
                str(n["5xx outage"]),
                str(n["5xx"]),
                str(n["error outage"]),
                str(n["other"]),
                percentile(latencies[endpoint], 50),
                percentile(latencies[endpoint], 99),
            ]
        )
    five = [c for c in outside if isinstance(c.status, int) and c.status >= 500]
    t.problem(
        bool(five),
        f"{len(five)} 5xx answers outside an outage: "
        + _sample(f"{c.endpoint} {c.status} at {_clock(c.start)}" for c in five),
    )
    rest = [c for c in outside if c not in five]
    t.problem(
        bool(rest),
        f"{len(rest)} unexpected answers or errors outside an outage: "
        + _sample(f"{c.endpoint} {c.status}" for c in rest),
    )

    # ---- strict: one attempt for everything, every webhook once
    if strict:
        multi_inv = [row for row in invitations if row[3] != 1 or row[4] != 1 or row[5] != 1]
        t.problem(
            bool(multi_inv),
            f"{len(multi_inv)} invitations not sent in exactly one "
            "attempt (id, user, state, attempts, 'sent' events, emails): "
            f"{multi_inv[:3]}",
        )
        multi_del = [row for row in deliveries if row[2] != 1]
        t.problem(bool(multi_del), f"{len(multi_del)} webhook deliveries not in one attempt")
        t.problem(bool(redelivered), f"{len(redelivered)} webhook-ids received more than once")
        t.problem(bool(ingest.retried), f"{ingest.retried} events had to be sent again")
        t.problem(bool(clicker.failed_clicks), f"{clicker.failed_clicks} clicks had to be repeated")
    t.facts["5xx during outages"] = sum(
        n["5xx outage"] + n["error outage"] for n in by_endpoint.values()
    )
    t.facts["5xx outside outages"] = len(five)
    return t
