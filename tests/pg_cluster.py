"""A throw-away PostgreSQL cluster for the `postgres` test tier: initdb + pg_ctl on a free port.

PostgreSQL refuses to run as root, so under root (as CI runs) the cluster belongs to a non-root
account: `postgres` (which Debian's server package creates) or else `nobody`. As a normal user it
runs as that user. Each test gets its own database; the cluster lives in a temporary folder and
is stopped and removed at the end of the session. Without the server binaries or the psycopg
driver the tier is skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "matassist"


class ClusterUnavailable(Exception):
    """PostgreSQL cannot be started here; the message says why (the tests skip with it)."""


def find_bin_dir() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb"), shutil.which("pg_ctl")
    if all(on_path):
        return Path(os.path.realpath(on_path[0] or "")).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _account() -> pwd.struct_passwd | None:
    """The account the server runs as: None for the current user, a non-root account under root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ClusterUnavailable("running as root and neither a 'postgres' nor a 'nobody' account exists to run PostgreSQL as")


@dataclass
class Cluster:
    """A running throw-away cluster; trust authentication on 127.0.0.1 only."""

    bin_dir: Path
    folder: Path
    port: int
    account: pwd.struct_passwd | None

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.folder / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        extra = {}
        if self.account is not None:
            extra = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "HOME": str(self.folder)}
        return subprocess.run([str(self.bin_dir / args[0]), *args[1:]], cwd=self.folder, env=env,
                              capture_output=True, text=True, timeout=120, check=False, **extra)

    def start(self) -> None:
        """initdb, then pg_ctl start on a free port (a few tries, should a port be taken meanwhile)."""
        done = self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        if done.returncode != 0:
            raise ClusterUnavailable(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        log = self.folder / "server.log"
        for _ in range(3):
            self.port = _free_port()
            options = f"-p {self.port} -h 127.0.0.1 -k {self.folder} -c max_connections=40 -c shared_buffers=16MB"
            done = self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
            if done.returncode == 0:
                return
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise ClusterUnavailable(f"pg_ctl start failed: {done.stderr.strip()} {tail}")

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of a database in this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_cluster() -> Cluster:
    """Start a throw-away cluster; ClusterUnavailable (the skip reason) when this machine cannot."""
    try:
        import psycopg  # noqa: F401
    except ImportError as err:
        raise ClusterUnavailable(f"the psycopg driver is not installed ({err}): pip install '.[postgres]' or bash scripts/setup.sh --dev") from err
    bin_dir = find_bin_dir()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        raise ClusterUnavailable("the PostgreSQL server binaries (initdb, pg_ctl) are not on PATH nor in /usr/lib/postgresql/*/bin; "
                                 "install the postgresql package to run this tier")
    account = _account()
    folder = Path(tempfile.mkdtemp(prefix="matassist-pg-"))
    if account is not None:
        os.chown(folder, account.pw_uid, account.pw_gid)
    cluster = Cluster(bin_dir=bin_dir, folder=folder, port=0, account=account)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
