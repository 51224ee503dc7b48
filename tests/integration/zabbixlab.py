"""A real Zabbix 6.0 server for tests, all on 127.0.0.1 in one scratch folder: a PostgreSQL cluster (initdb,
run as the postgres user on an ephemeral port), the Zabbix schema from Debian's zabbix-server-pgsql,
zabbix_server with its own configuration, pid, log and socket folder, and the PHP frontend (a copy of
/usr/share/zabbix pointed at a generated zabbix.conf.php, served by `php -S`) for its JSON-RPC API.

Lab.unavailable() says why this cannot run here (None when it can). Lab(workdir) starts everything;
lab.stop() tears it down (every child is reaped, the cluster stopped)."""

import glob
import gzip
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

from harness import Process, wait_until

SCHEMA_DIR = "/usr/share/zabbix-server-pgsql"
FRONTEND_DIR = "/usr/share/zabbix"
ZABBIX_SERVER = "/usr/sbin/zabbix_server"
CONFIG_FILE_CLASS = "include/classes/core/CConfigFile.php"
DB_PASSWORD = "seatmeter-lab"


def pg_bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def free_port(low=0, high=0):
    """A port free now on 127.0.0.1: the kernel's pick, or a random one in [low, high] (zabbix_server's
    ListenPort must be at most 32767, below the ephemeral range)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", random.randint(low, high) if high else 0))
            except OSError:
                continue
            return s.getsockname()[1]
    raise AssertionError(f"no free port in {low}..{high}")


def unavailable():
    """The reason this machine cannot run the lab, or None."""
    if os.geteuid() != 0:
        return "not root: cannot run PostgreSQL and zabbix_server as their own users"
    for what, path in (("zabbix-server-pgsql", ZABBIX_SERVER),
                       ("zabbix-server-pgsql schema", os.path.join(SCHEMA_DIR, "schema.sql.gz")),
                       ("zabbix-frontend-php", os.path.join(FRONTEND_DIR, "api_jsonrpc.php")),
                       ("zabbix-frontend-php", os.path.join(FRONTEND_DIR, CONFIG_FILE_CLASS))):
        if not os.path.exists(path):
            return f"{what} not installed (no {path})"
    if not pg_bindir():
        return "postgresql not installed (no initdb)"
    if not shutil.which("php"):
        return "php-cli not installed"
    for user in ("postgres", "zabbix"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"no '{user}' user (the postgresql / zabbix-server-pgsql packages create it)"
    r = subprocess.run(["php", "-r", "exit(function_exists('pg_connect') ? 0 : 1);"], capture_output=True)
    if r.returncode != 0:
        return "php-pgsql not installed (no pg_connect)"
    return None


class ApiError(Exception):
    pass


class Lab:
    def __init__(self, workdir, server_options=None, log=print):
        self.dir = workdir
        self.log = log
        self.children = []
        self.pg_started = False
        self.bindir = pg_bindir()
        self.pgdata = os.path.join(workdir, "pgdata")
        self.pgsock = os.path.join(workdir, "pgsock")
        self.pg_port = free_port()
        self.auth = None
        os.chmod(workdir, 0o755)
        try:
            self._start_postgres()
            self._load_schema()
            self._start_server(server_options or {})
            self._start_frontend()
            self._login()
        except BaseException:
            self.stop()
            raise

    # --- PostgreSQL ---

    def _as(self, user, argv, **kw):
        return subprocess.run(["runuser", "-u", user, "--"] + argv, check=True, capture_output=True, **kw)

    def _start_postgres(self):
        t = time.monotonic()
        for d in (self.pgdata, self.pgsock):
            os.mkdir(d, 0o700)
            shutil.chown(d, "postgres", "postgres")
        self._as("postgres", [os.path.join(self.bindir, "initdb"), "-D", self.pgdata, "-U", "postgres",
                              "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        opts = (f"-p {self.pg_port} -k {self.pgsock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB")
        self._as("postgres", [os.path.join(self.bindir, "pg_ctl"), "-D", self.pgdata, "-o", opts, "-w",
                              "-l", os.path.join(self.pgsock, "postgres.log"), "start"])
        self.pg_started = True
        self.log(f"postgresql up on 127.0.0.1:{self.pg_port} in {time.monotonic() - t:.1f}s")

    def psql(self, sql=None, db="postgres", stdin=None):
        argv = [os.path.join(self.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.pgsock,
                "-p", str(self.pg_port), "-U", "postgres", "-d", db, "-At"]
        if sql is not None:
            argv += ["-c", sql]
        r = self._as("postgres", argv, stdin=stdin)
        return r.stdout.decode()

    def _load_schema(self):
        t = time.monotonic()
        self.psql(f"CREATE ROLE zabbix LOGIN PASSWORD '{DB_PASSWORD}'")
        self.psql("CREATE DATABASE zabbix OWNER zabbix ENCODING 'UTF8' TEMPLATE template0")
        # One stream, one transaction, as the zabbix user so that it owns every table.
        with open(os.path.join(self.dir, "schema.sql"), "wb") as out:
            out.write(b"SET ROLE zabbix;\nBEGIN;\n")
            for name in ("schema.sql.gz", "images.sql.gz", "data.sql.gz"):
                with gzip.open(os.path.join(SCHEMA_DIR, name)) as f:
                    shutil.copyfileobj(f, out)
            out.write(b"COMMIT;\n")
        with open(os.path.join(self.dir, "schema.sql"), "rb") as f:
            self.psql(db="zabbix", stdin=f)
        os.unlink(os.path.join(self.dir, "schema.sql"))
        # The frontend sets the locale of the user's language and, failing that (a machine without the
        # en_US locale), puts an error into every page and widget; English (en_GB) needs no locale.
        self.psql("UPDATE users SET lang = 'en_GB'", db="zabbix")
        self.log(f"zabbix schema loaded in {time.monotonic() - t:.1f}s")

    # --- zabbix_server ---

    def _start_server(self, options):
        t = time.monotonic()
        sdir = os.path.join(self.dir, "server")
        os.mkdir(sdir, 0o755)
        shutil.chown(sdir, "zabbix", "zabbix")
        self.server_log = os.path.join(sdir, "zabbix_server.log")
        self.server_port = free_port(20000, 32767)
        conf = {
            "ListenIP": "127.0.0.1", "ListenPort": self.server_port,
            "LogFile": self.server_log, "LogFileSize": 0, "DebugLevel": 3,
            "PidFile": os.path.join(sdir, "zabbix_server.pid"), "SocketDir": sdir,
            "DBHost": "127.0.0.1", "DBPort": self.pg_port, "DBName": "zabbix", "DBUser": "zabbix",
            "DBPassword": DB_PASSWORD, "User": "zabbix",
            # Few processes (two cores shared with the rest of CI), and fast reaction.
            "StartPollers": 2, "StartPollersUnreachable": 1, "StartTrappers": 2, "StartPingers": 0,
            "StartDiscoverers": 0, "StartHTTPPollers": 0, "StartTimers": 1, "StartEscalators": 1,
            "StartAlerters": 1, "StartDBSyncers": 1, "StartLLDProcessors": 1, "StartPreprocessors": 1,
            "StartHistoryPollers": 1, "StartReportWriters": 0, "StartProxyPollers": 0,
            "StartVMwareCollectors": 0, "StartJavaPollers": 0, "StartSNMPTrapper": 0,
            "StartODBCPollers": 0, "StartLLDProcessors": 1,
            "CacheUpdateFrequency": 1, "HousekeepingFrequency": 0, "Timeout": 4,
            "UnreachablePeriod": 3600, "UnavailableDelay": 1, "UnreachableDelay": 1,
            "CacheSize": "32M", "HistoryCacheSize": "16M", "HistoryIndexCacheSize": "4M",
            "TrendCacheSize": "4M", "ValueCacheSize": "16M",
        }
        conf.update(options)
        self.server_conf = os.path.join(sdir, "zabbix_server.conf")
        with open(self.server_conf, "w") as f:
            for k, v in conf.items():
                f.write(f"{k}={v}\n")
        # zabbix_server daemonizes; -f keeps it in the foreground as our child.
        p = Process([ZABBIX_SERVER, "-f", "-c", self.server_conf], name="zabbix_server")
        self.children.append(p)
        self.server = p
        wait_until(lambda: self._server_log_has("server #0 started") or not p.running(), timeout=60,
                   interval=0.2, what="zabbix_server to start")
        if not p.running():
            raise AssertionError("zabbix_server exited: " + p.output()[-2000:] + self._server_log_tail())
        self.log(f"zabbix_server up (trapper 127.0.0.1:{self.server_port}) in {time.monotonic() - t:.1f}s")

    def _server_log_has(self, text):
        try:
            with open(self.server_log, errors="replace") as f:
                return text in f.read()
        except FileNotFoundError:
            return False

    def _server_log_tail(self, n=4000):
        try:
            with open(self.server_log, errors="replace") as f:
                return f.read()[-n:]
        except FileNotFoundError:
            return ""

    def server_log_text(self):
        return self._server_log_tail(10 ** 9)

    # --- frontend ---

    def _start_frontend(self):
        t = time.monotonic()
        web = os.path.join(self.dir, "web")
        shutil.copytree(FRONTEND_DIR, web, symlinks=True)
        # Relative links (the graphs' DejaVu font) would point nowhere from the copy: make them absolute.
        for root, dirs, files in os.walk(web):
            for name in dirs + files:
                link = os.path.join(root, name)
                if os.path.islink(link) and not os.path.isabs(os.readlink(link)):
                    orig = os.path.join(FRONTEND_DIR, os.path.relpath(link, web))
                    target = os.path.realpath(orig)
                    os.unlink(link)
                    os.symlink(target, link)
        conf_php = os.path.join(self.dir, "zabbix.conf.php")
        cls = os.path.join(web, CONFIG_FILE_CLASS)
        with open(cls) as f:
            src = f.read()
        start = src.index("const CONFIG_FILE_PATH")
        end = src.index(";", start)
        with open(cls, "w") as f:
            f.write(src[:start] + f"const CONFIG_FILE_PATH = {json.dumps(conf_php)}" + src[end:])
        with open(conf_php, "w") as f:
            f.write("<?php\n"
                    "$DB['TYPE'] = 'POSTGRESQL';\n"
                    "$DB['SERVER'] = '127.0.0.1';\n"
                    f"$DB['PORT'] = '{self.pg_port}';\n"
                    "$DB['DATABASE'] = 'zabbix';\n"
                    "$DB['USER'] = 'zabbix';\n"
                    f"$DB['PASSWORD'] = '{DB_PASSWORD}';\n"
                    "$DB['SCHEMA'] = '';\n"
                    "$DB['ENCRYPTION'] = false;\n"
                    "$DB['KEY_FILE'] = ''; $DB['CERT_FILE'] = ''; $DB['CA_FILE'] = '';\n"
                    "$DB['VERIFY_HOST'] = false; $DB['CIPHER_LIST'] = '';\n"
                    "$DB['VAULT_URL'] = ''; $DB['VAULT_DB_PATH'] = ''; $DB['VAULT_TOKEN'] = '';\n"
                    "$DB['DOUBLE_IEEE754'] = true;\n"
                    "$ZBX_SERVER = '127.0.0.1';\n"
                    f"$ZBX_SERVER_PORT = '{self.server_port}';\n"
                    "$ZBX_SERVER_NAME = 'seatmeter lab';\n"
                    "$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;\n")
        self.web_port = free_port()
        p = Process(["php", "-d", "memory_limit=256M", "-d", "post_max_size=16M", "-d", "upload_max_filesize=2M",
                     "-d", "max_execution_time=300", "-d", "max_input_time=300", "-d", "date.timezone=UTC",
                     "-S", f"127.0.0.1:{self.web_port}", "-t", web],
                    env={"PHP_CLI_SERVER_WORKERS": "2"}, name="php")
        self.children.append(p)
        self.url = f"http://127.0.0.1:{self.web_port}"
        wait_until(lambda: self._http_ok(self.url + "/api_jsonrpc.php") or not p.running(), timeout=30,
                   interval=0.2, what="the PHP frontend")
        if not p.running():
            raise AssertionError("php -S exited: " + p.output()[-2000:])
        self.log(f"frontend up on {self.url} in {time.monotonic() - t:.1f}s")

    def _http_ok(self, url):
        try:
            body = json.dumps({"jsonrpc": "2.0", "method": "apiinfo.version", "params": {}, "id": 1}).encode()
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json-rpc"})
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    # --- API ---

    def api(self, method, params, timeout=60):
        body = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
        if self.auth and method not in ("apiinfo.version", "user.login"):
            body["auth"] = self.auth
        req = urllib.request.Request(self.url + "/api_jsonrpc.php", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json-rpc"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            answer = json.loads(r.read())
        if "error" in answer:
            raise ApiError(f"{method}: {answer['error']}")
        return answer["result"]

    def _login(self):
        self.version = self.api("apiinfo.version", {})
        self.auth = self.api("user.login", {"username": "Admin", "password": "zabbix"})

    # --- teardown ---

    def stop(self):
        for p in reversed(self.children):
            pgid = p.proc.pid
            p.stop(timeout=20)
            try:  # php -S workers, zabbix_server's children: each child has its own process group
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.children = []
        if self.pg_started:
            subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(self.bindir, "pg_ctl"), "-D",
                            self.pgdata, "-m", "immediate", "-w", "stop"], capture_output=True)
            self.pg_started = False
