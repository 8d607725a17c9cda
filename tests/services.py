"""Real services for tests and benchmarks: PostgreSQL and nginx from Debian's packages, each in a temporary directory.

Both run as an ordinary user: PostgreSQL refuses to run as root, and nginx run by root would switch its workers
to another user. As root (CI containers) they run as the package's own user (`postgres`, `www-data`) in a
directory handed to that user; as anyone else they run as the current user. Nothing touches the system's own
clusters or sites.

Binaries: `initdb`/`pg_ctl` from `MAVI_MCP_PG_BIN`, else the newest `/usr/lib/postgresql/<major>/bin`, else PATH;
`nginx` from PATH or `/usr/sbin`. When one is missing, the fixtures skip with the command that installs it.
The fixtures are imported by `tests/conftest.py`; `benchmarks/` use the context managers directly.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PG_INSTALL = "apt-get install -y postgresql"
NGINX_INSTALL = "apt-get install -y nginx"


class Unavailable(Exception):
    """A service cannot run here; the message says why and how to install it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, *, alive: subprocess.Popen[bytes] | None = None) -> None:
    """Return once 127.0.0.1:`port` accepts connections; AssertionError after `timeout` seconds or if `alive` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"process exited with {alive.returncode} before listening on {port}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@dataclass(frozen=True)
class RunAs:
    """Who runs a service: `uid`/`gid` to switch to (as root), or None to stay the current user."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_service(cls, user: str) -> RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise Unavailable(f"running as root and there is no {user!r} user to run the service as") from None
        return cls(entry.pw_uid, entry.pw_gid)

    def popen_args(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, *paths: Path) -> None:
        if self.uid is None or self.gid is None:
            return
        for path in paths:
            os.chown(path, self.uid, self.gid)


def _run(args: list[str], run_as: RunAs, *, cwd: Path, timeout: float = 120.0) -> None:
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, **run_as.popen_args()
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def pg_bin_dir() -> Path:
    """The directory holding `initdb`, `pg_ctl` and `postgres`; raises Unavailable when there is none."""
    candidates: list[Path] = []
    if os.environ.get("MAVI_MCP_PG_BIN"):
        candidates.append(Path(os.environ["MAVI_MCP_PG_BIN"]))
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    candidates.extend(versions)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise Unavailable(f"PostgreSQL server binaries (initdb, pg_ctl) not found: {PG_INSTALL} or set MAVI_MCP_PG_BIN")


@dataclass
class PostgresCluster:
    """A running PostgreSQL cluster in `root`, on 127.0.0.1:`port` (password login) and a socket in `root/sock`."""

    bin_dir: Path
    root: Path
    port: int
    run_as: RunAs
    user: str = "mavi"
    password: str = field(default_factory=lambda: "pw-" + secrets.token_hex(12))
    fsync: bool = False
    tls_cert: Path | None = None
    """The server's self-signed certificate (for 127.0.0.1) when TLS is on: clients pass it as `sslrootcert`."""

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres", **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}" + (
            f"?{query}" if query else ""
        )

    def _pg_ctl(self, *args: str) -> None:
        _run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args], self.run_as, cwd=self.root)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -c max_connections=200"
            f" -c fsync={'on' if self.fsync else 'off'} -c full_page_writes={'on' if self.fsync else 'off'}"
        )
        if self.tls_cert is not None:
            key = self.tls_cert.with_suffix(".key")
            options += f" -c ssl=on -c ssl_cert_file={self.tls_cert} -c ssl_key_file={key}"
        self._pg_ctl("-l", str(self.root / "server.log"), "-w", "-t", "60", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; mode "immediate" is a crash (no checkpoint: the next start replays the WAL)."""
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = "t_" + secrets.token_hex(6)
        self.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1].split('?')[0]} WITH (FORCE)")


def self_signed_certificate(directory: Path, ip: str, run_as: RunAs | None = None) -> Path | None:
    """`directory/server.crt` (and `server.key`, mode 0600, owned by `run_as`) for `ip`, made with the openssl
    command; None when there is no openssl (TLS is then off)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "server.crt", directory / "server.key"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={ip}"]
    subprocess.run(
        [openssl, *request, "-addext", f"subjectAltName=IP:{ip}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    key.chmod(0o600)
    if run_as is not None:
        run_as.own(directory, cert, key)
    return cert


@contextlib.contextmanager
def postgres_cluster(*, fsync: bool = False) -> Iterator[PostgresCluster]:
    """initdb + start a cluster in a fresh temporary directory; stopped and removed on exit.

    Logins over TCP need the password (scram-sha-256); TLS is on (a self-signed certificate for 127.0.0.1,
    `cluster.tls_cert`) when the openssl command exists, and optional for clients.

    `fsync=False` (tests) trades crash safety of the OS for speed: a server crash (`stop("immediate")`) still
    keeps every committed transaction, since the WAL is written before commit returns. Benchmarks pass True.

    Raises:
        Unavailable: no PostgreSQL binaries, or no user to run them as.
    """
    bin_dir = pg_bin_dir()
    run_as = RunAs.for_service("postgres")
    root = Path(tempfile.mkdtemp(prefix="mavi-pg-"))
    cluster = PostgresCluster(bin_dir=bin_dir, root=root, port=free_port(), run_as=run_as, fsync=fsync)
    try:
        (root / "sock").mkdir()
        pwfile = root / "pwfile"
        pwfile.write_text(cluster.password + "\n")
        run_as.own(root, root / "sock", pwfile)
        cluster.tls_cert = self_signed_certificate(root / "tls", "127.0.0.1", run_as)
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(cluster.data_dir),
                "-U",
                cluster.user,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            run_as,
            cwd=root,
        )
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(AssertionError):
                cluster.stop("fast")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster for the test session (skips the test when PostgreSQL is not installed)."""
    try:
        with postgres_cluster() as cluster:
            yield cluster
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def pg_url(postgres: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database on the session cluster (dropped afterwards); its URL with the password."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


# --- nginx ------------------------------------------------------------------------------------------------


def nginx_binary() -> Path:
    """The `nginx` executable; raises Unavailable when there is none."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise Unavailable(f"nginx not found: {NGINX_INSTALL}")
    return Path(found)


def nginx_config(root: Path, port: int, upstreams: list[int]) -> str:
    """An nginx.conf that needs no root: every path under `root`, one upstream of loopback ports, no `user`."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstreams)
    return f"""worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log notice;
events {{ worker_connections 1024; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    upstream mavi {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 64m;
        location / {{
            proxy_pass http://mavi;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_read_timeout 3600s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


@dataclass
class Nginx:
    """A running nginx on 127.0.0.1:`port` proxying to the upstream ports it was started with."""

    process: subprocess.Popen[bytes]
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return (self.root / "error.log").read_text(errors="replace") if (self.root / "error.log").exists() else ""


@contextlib.contextmanager
def nginx_proxy(upstreams: list[int], *, config: str | None = None) -> Iterator[Nginx]:
    """nginx (`nginx -p root -c root/nginx.conf -e root/error.log -g 'daemon off;'`) in front of `upstreams`.

    `config`, when given, replaces the generated `nginx_config` (it may use `{root}` and `{port}`).

    Raises:
        Unavailable: no nginx, or no user to run it as.
    """
    binary = nginx_binary()
    run_as = RunAs.for_service("www-data")
    root = Path(tempfile.mkdtemp(prefix="mavi-nginx-"))
    port = free_port()
    try:
        (root / "tmp").mkdir()
        text = config.format(root=root, port=port) if config else nginx_config(root, port, upstreams)
        (root / "nginx.conf").write_text(text)
        run_as.own(root, root / "tmp")
        args = [str(binary), "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")]
        process = subprocess.Popen(
            [*args, "-g", "daemon off;"],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **run_as.popen_args(),
        )
        proxy = Nginx(process, root, port)
        try:
            try:
                wait_for_port(port, alive=process)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nnginx error.log:\n{proxy.log()}") from None
            yield proxy
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def nginx_available() -> Path:
    """The nginx binary (skips the test when nginx is not installed or cannot run here)."""
    try:
        binary = nginx_binary()
        RunAs.for_service("www-data")
    except Unavailable as exc:
        pytest.skip(str(exc))
    return binary


# --- mavi-mcp replicas behind nginx (examples/deploy) -----------------------------------------------------

DEPLOY = Path(__file__).resolve().parents[1] / "examples" / "deploy"
"""The deployment example: nginx/mavi-mcp-upstreams.conf, nginx/mavi-mcp-locations.conf, systemd units."""


def deploy_upstreams(ports: list[int]) -> str:
    """examples/deploy/nginx/mavi-mcp-upstreams.conf for replicas r1..rN on `ports` (the example is this for
    8001-8003, comments aside: tests/test_replicas.py checks it)."""
    names = [f"r{n}" for n in range(1, len(ports) + 1)]
    routes = "\n".join(f'    "~^{name}\\."    mavi_{name};' for name in names)
    spread = "\n".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in ports)
    own = "\n\n".join(
        f"upstream mavi_{name} {{\n    server 127.0.0.1:{port};\n    keepalive 8;\n}}"
        for name, port in zip(names, ports, strict=True)
    )
    return (
        f"map $http_mcp_session_id $mavi_upstream {{\n    default     mavi_any;\n{routes}\n}}\n\n"
        f"upstream mavi_any {{\n{spread}\n    keepalive 32;\n}}\n\n{own}\n"
    )


def deploy_nginx_config(replica_ports: list[int]) -> str:
    """An nginx.conf template (for `nginx_proxy(config=...)`: `{root}` and `{port}` left to fill) running the
    example's upstreams for `replica_ports` and its locations file unchanged, without root. Each proxied request
    is logged to `{root}/upstream.log` as `<upstream addr> <status> <method> "<Mcp-Session-Id>"`."""
    locations = (DEPLOY / "nginx" / "mavi-mcp-locations.conf").read_text()

    def braces(text: str) -> str:
        return text.replace("{", "{{").replace("}", "}}")

    return f"""worker_processes 1;
worker_rlimit_nofile 8192;
pid {{root}}/nginx.pid;
error_log {{root}}/error.log notice;
events {{{{ worker_connections 4096; }}}}
http {{{{
    log_format upstream '$upstream_addr $status $request_method "$http_mcp_session_id"';
    access_log {{root}}/upstream.log upstream;
    client_body_temp_path {{root}}/tmp/body;
    proxy_temp_path {{root}}/tmp/proxy;
    fastcgi_temp_path {{root}}/tmp/fastcgi;
    uwsgi_temp_path {{root}}/tmp/uwsgi;
    scgi_temp_path {{root}}/tmp/scgi;
{braces(deploy_upstreams(replica_ports))}
    server {{{{
        listen 127.0.0.1:{{port}};
{braces(locations)}
    }}}}
}}}}
"""


@dataclass
class Replica:
    """One `mavi-mcp --transport streamable-http --replica-name <name>` process on 127.0.0.1:`port`."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lease released (what a crash or an OOM kill does)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def mavi_mcp_executable() -> list[str]:
    """The `mavi-mcp` script next to this interpreter (the venv's, running this checkout), else `python -m`."""
    import sys

    script = Path(sys.executable).parent / "mavi-mcp"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mavi_mcp"]


def start_replica(name: str, port: int, env: dict[str, str], flags: tuple[str, ...], log_dir: Path) -> Replica:
    """Start one replica (environment: this process's plus `env`) and wait until its port accepts connections.

    Raises:
        AssertionError: it exited or did not listen within 60 s (with its log).
    """
    log_path = log_dir / f"{name}-{port}-{time.monotonic_ns()}.log"
    args = [*mavi_mcp_executable(), "--transport", "streamable-http", "--port", str(port), "--replica-name", name]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*args, *flags], stdin=subprocess.DEVNULL, stdout=log, stderr=log, env={**os.environ, **env}
        )
    replica = Replica(name, port, process, log_path)
    try:
        wait_for_port(port, 60.0, alive=process)
    except AssertionError as exc:
        replica.stop()
        raise AssertionError(f"{exc}\n{name} log:\n{replica.log()}") from None
    return replica


@dataclass
class Deployment:
    """Replicas r1..rN behind nginx running examples/deploy's config; clients use `url` (`/mcp`, `/webhooks/...`)."""

    replicas: list[Replica]
    proxy: Nginx
    env: dict[str, str]
    flags: tuple[str, ...]
    log_dir: Path

    @property
    def url(self) -> str:
        return self.proxy.url

    def upstream_log(self) -> list[tuple[str, int, str, str]]:
        """(upstream address, status, method, session id) of each proxied request so far, in order."""
        path = self.proxy.root / "upstream.log"
        rows: list[tuple[str, int, str, str]] = []
        for line in path.read_text().splitlines() if path.exists() else []:
            upstream, status, method, session = line.split(" ", 3)
            rows.append((upstream, int(status), method, session.strip('"')))
        return rows

    def restart(self, replica: Replica) -> Replica:
        """Start `replica` again on its port (after `kill` or `stop`); returns the new one, also in `replicas`."""
        fresh = start_replica(replica.name, replica.port, self.env, self.flags, self.log_dir)
        self.replicas[self.replicas.index(replica)] = fresh
        return fresh


@contextlib.contextmanager
def deployment(count: int, env: dict[str, str], *flags: str) -> Iterator[Deployment]:
    """`count` replicas (`mavi-mcp --transport streamable-http --replica-name rN <flags>`, environment `env`)
    behind nginx with the deployment example's config; all stopped on exit.

    Raises:
        Unavailable: no nginx, or no user to run it as.
        AssertionError: a replica did not start.
    """
    nginx_binary()
    log_dir = Path(tempfile.mkdtemp(prefix="mavi-replicas-"))
    replicas: list[Replica] = []
    dep: Deployment | None = None
    try:
        ports = [free_port() for _ in range(count)]
        for n, port in enumerate(ports, start=1):
            replicas.append(start_replica(f"r{n}", port, env, flags, log_dir))
        with nginx_proxy(ports, config=deploy_nginx_config(ports)) as proxy:
            dep = Deployment(replicas, proxy, env, flags, log_dir)
            yield dep
    finally:
        for replica in dep.replicas if dep is not None else replicas:
            replica.stop()
        shutil.rmtree(log_dir, ignore_errors=True)
