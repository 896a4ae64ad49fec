//! sluice as a drop-in for redis-server's process and config: the stock
//! redis.conf Debian ships with redis-server loads and reads back as Redis
//! reads it, defaults match Redis's, the process duties (`daemonize`,
//! `pidfile`, `supervised systemd`) are done, the `lazyfree-lazy-*`
//! directives free aside, and `stop-writes-on-bgsave-error` refuses writes
//! with Redis's MISCONF text.
#[macro_use]
mod common;

use common::{require_bin, wait_until, Client, Reply, Server};
use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

/// The redis.conf the redis-server package installs.
const STOCK_CONF: &str = "/etc/redis/redis.conf";

fn config_map(c: &mut Client, pattern: &str) -> BTreeMap<String, String> {
    let reply = c.cmd_str(&["CONFIG", "GET", pattern]);
    reply
        .as_array()
        .chunks(2)
        .map(|kv| (kv[0].as_str(), kv[1].as_str()))
        .collect()
}

/// Names whose values differ between the two servers by design, and why.
const DIFFERENT_BY_DESIGN: [(&str, &str); 3] = [
    ("port", "each test server has its own"),
    ("dir", "each test server has its own"),
    (
        "save",
        "the test harness starts redis-server with save \"\"",
    ),
];

fn by_design(name: &str) -> bool {
    DIFFERENT_BY_DESIGN.iter().any(|(n, _)| *n == name)
}

/// Every directive sluice knows that Redis 7.0 also has shows Redis's
/// default in CONFIG GET (the compatibility ones included).
#[test]
fn defaults_match_redis() {
    if require_bin("redis-server").is_none() {
        return;
    }
    let redis = Server::redis(&[]);
    let sluice = Server::sluice(1, &[]);
    let theirs = config_map(&mut redis.client(), "*");
    let ours = config_map(&mut sluice.client(), "*");
    let mut compared = 0;
    let mut wrong = Vec::new();
    for (name, value) in &ours {
        let Some(expected) = theirs.get(name) else {
            continue;
        };
        compared += 1;
        if value != expected && !by_design(name) {
            wrong.push(format!("{name}: sluice {value:?}, redis {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "defaults differ:\n{}", wrong.join("\n"));
    assert!(compared > 100, "only {compared} names in common");
}

/// The stock redis.conf loads, with only what a second server on the same
/// machine must change given on the command line (as Debian's unit passes
/// `--supervised systemd --daemonize no`), and every directive it names
/// reads back as redis-server reads it from the same file.
#[test]
fn stock_redis_conf_loads_as_redis_loads_it() {
    if require_bin("redis-server").is_none() {
        return;
    }
    if !Path::new(STOCK_CONF).is_file() {
        assert!(
            !common::strict_env(),
            "{STOCK_CONF} is missing: install redis-server with apt-get"
        );
        eprintln!("skipping: {STOCK_CONF} not found");
        return;
    }
    let base = std::env::temp_dir().join(format!("sluice-stock-{}", std::process::id()));
    let args = |name: &str, port: u16| {
        // Absolute: a relative `dir` would resolve against the file's
        // `dir /var/lib/redis`, as Redis chdirs at each `dir` line.
        let dir = base.join(format!("{name}-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.to_str().unwrap();
        [
            STOCK_CONF,
            "--daemonize",
            "no",
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--dir",
            dir,
            "--logfile",
            "",
            "--pidfile",
            "server.pid",
        ]
        .map(String::from)
        .to_vec()
    };
    let redis = Server::spawn("redis", "redis-server", |port| args("redis", port));
    let sluice = Server::spawn("sluice", common::sluice_bin(), |port| args("sluice", port));
    let text = std::fs::read_to_string(STOCK_CONF).unwrap();
    let names: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        names.len() > 50,
        "{STOCK_CONF} names {} directives",
        names.len()
    );
    let (mut rc, mut sc) = (redis.client(), sluice.client());
    let mut wrong = Vec::new();
    for name in names {
        let theirs = config_map(&mut rc, name);
        let ours = config_map(&mut sc, name);
        if theirs != ours && !by_design(name) {
            wrong.push(format!("{name}: sluice {ours:?}, redis {theirs:?}"));
        }
    }
    assert!(wrong.is_empty(), "values differ:\n{}", wrong.join("\n"));
    for server in [&redis, &sluice] {
        let dir = base.join(format!("{}-{}", server.name, server.port));
        let pid = std::fs::read_to_string(dir.join("server.pid")).unwrap();
        assert_eq!(pid, format!("{}\n", server.pid()), "{}", server.name);
    }
    drop((redis, sluice));
    let _ = std::fs::remove_dir_all(&base);
}

/// `supervised systemd`: the loading and ready notifications reach
/// `$NOTIFY_SOCKET` (Redis's texts), STOPPING=1 at shutdown, and the pid
/// file is written at start and removed at exit.
#[test]
fn systemd_notify_and_pidfile() {
    let dir = std::env::temp_dir().join(format!("sluice-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut server = Server::spawn_env(
        "sluice",
        common::sluice_bin(),
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
        |port| {
            [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--supervised",
                "auto",
                "--daemonize",
                "yes",
                "--pidfile",
                "sluice.pid",
            ]
            .map(String::from)
            .to_vec()
        },
    );
    let next = || {
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // Supervised: `daemonize yes` is ignored (the child serves PING).
    assert_eq!(next(), "STATUS=Redis is loading...\n");
    assert_eq!(next(), "STATUS=Ready to accept connections\n");
    assert_eq!(next(), "READY=1\n");
    assert_eq!(
        common::repl::info(&mut server.client(), "server", "process_supervised").as_deref(),
        Some("systemd")
    );
    let pid_file = server.dir().join("sluice.pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        format!("{}\n", server.pid())
    );
    server.client().send_str(&["SHUTDOWN", "NOSAVE"]);
    assert_eq!(next(), "STOPPING=1\n");
    wait_until("the server to exit", Duration::from_secs(30), || {
        server.try_exit().is_some()
    });
    assert!(!pid_file.exists(), "the pid file outlived the server");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `daemonize yes`: the command returns at once with status 0, the
/// daemon serves, writes its pid file, and removes it when shut down.
#[test]
fn daemonize_yes() {
    let dir = std::env::temp_dir().join(format!("sluice-daemon-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("d.pid");
    let port = common::free_port();
    let status = std::process::Command::new(common::sluice_bin())
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--daemonize", "yes", "--dir", dir.to_str().unwrap()])
        .args(["--pidfile", "d.pid"])
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    wait_until("the pid file", Duration::from_secs(30), || {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n'))
    });
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Kills the daemon if an assertion below fails.
    struct Reap(i32);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .args(["-9", &self.0.to_string()])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
    let _reap = Reap(pid);
    let alive = || Path::new(&format!("/proc/{pid}")).exists();
    assert!(alive());
    let mut c = Client::connect(port);
    assert_eq!(c.q("PING"), Reply::simple("PONG"));
    let info = c.q("INFO server").as_str();
    assert!(
        info.contains(&format!("process_id:{pid}\r\n")),
        "the daemon is the one serving: {info}"
    );
    c.send_str(&["SHUTDOWN", "NOSAVE"]);
    wait_until("the daemon to exit", Duration::from_secs(30), || !alive());
    assert!(!pid_file.exists(), "the pid file outlived the daemon");
    let _ = std::fs::remove_dir_all(&dir);
}

fn lazyfreed(c: &mut Client) -> u64 {
    common::repl::info(c, "memory", "lazyfreed_objects")
        .expect("lazyfreed_objects")
        .parse()
        .unwrap()
}

/// A hash big enough to be freed aside (more than 64 allocations).
fn big_hash(c: &mut Client, key: &str) {
    let mut args = vec!["HSET".to_string(), key.to_string()];
    for i in 0..1000 {
        args.extend([format!("f{i}"), format!("v{i}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(c.cmd_str(&args), Reply::Int(1000));
}

/// Each `lazyfree-lazy-*` directive sends its kind of deletion of a big
/// value to the lazy-free thread (counted in INFO lazyfreed_objects), and
/// only when set.
#[test]
fn lazyfree_directives() {
    let s = Server::sluice(2, &[]);
    let mut c = s.client();
    let freed_after = |c: &mut Client, expected: u64| {
        let what = format!("{expected} lazily freed objects");
        wait_until(&what, Duration::from_secs(10), || lazyfreed(c) == expected);
    };
    // Off: DEL, an overwrite and FLUSHALL free inline.
    big_hash(&mut c, "h");
    assert_eq!(c.cmd_str(&["DEL", "h"]), Reply::Int(1));
    big_hash(&mut c, "h");
    assert_eq!(c.cmd_str(&["SET", "h", "v"]), Reply::ok());
    big_hash(&mut c, "h2");
    assert_eq!(c.cmd_str(&["FLUSHALL"]), Reply::ok());
    assert_eq!(lazyfreed(&mut c), 0);

    let set = |c: &mut Client, name: &str| {
        assert_eq!(c.cmd_str(&["CONFIG", "SET", name, "yes"]), Reply::ok());
    };
    set(&mut c, "lazyfree-lazy-user-del");
    big_hash(&mut c, "h");
    assert_eq!(c.cmd_str(&["DEL", "h"]), Reply::Int(1));
    freed_after(&mut c, 1);

    set(&mut c, "lazyfree-lazy-server-del");
    big_hash(&mut c, "h");
    assert_eq!(c.cmd_str(&["SET", "h", "v"]), Reply::ok());
    freed_after(&mut c, 2);
    big_hash(&mut c, "src");
    big_hash(&mut c, "dst");
    assert_eq!(c.cmd_str(&["RENAME", "src", "dst"]), Reply::ok());
    freed_after(&mut c, 3);
    assert_eq!(c.cmd_str(&["DEL", "h", "dst"]), Reply::Int(2));
    freed_after(&mut c, 4);

    set(&mut c, "lazyfree-lazy-expire");
    big_hash(&mut c, "h");
    assert_eq!(c.cmd_str(&["PEXPIRE", "h", "1"]), Reply::Int(1));
    wait_until("the key to expire", Duration::from_secs(10), || {
        c.cmd_str(&["EXISTS", "h"]) == Reply::Int(0)
    });
    freed_after(&mut c, 5);

    set(&mut c, "lazyfree-lazy-eviction");
    big_hash(&mut c, "h");
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]),
        Reply::ok()
    );
    assert_eq!(c.cmd_str(&["CONFIG", "SET", "maxmemory", "1"]), Reply::ok());
    // The next write evicts every key, then finds memory still over.
    assert!(c.cmd_str(&["SET", "k", "v"]).is_error());
    assert_eq!(c.cmd_str(&["CONFIG", "SET", "maxmemory", "0"]), Reply::ok());
    assert_eq!(c.cmd_str(&["DBSIZE"]), Reply::Int(0));
    freed_after(&mut c, 6);

    set(&mut c, "lazyfree-lazy-user-flush");
    assert_eq!(c.cmd_str(&["MSET", "a", "1", "b", "2"]), Reply::ok());
    assert_eq!(c.cmd_str(&["FLUSHALL"]), Reply::ok());
    freed_after(&mut c, 8);
    // An explicit SYNC still frees inline.
    assert_eq!(c.cmd_str(&["MSET", "a", "1", "b", "2"]), Reply::ok());
    assert_eq!(c.cmd_str(&["FLUSHDB", "SYNC"]), Reply::ok());
    assert_eq!(lazyfreed(&mut c), 8);
}

/// `stop-writes-on-bgsave-error`: after a failed BGSAVE, writes and PING
/// get Redis's MISCONF error and reads work; turning the directive off, or
/// removing the save points, or a save that succeeds lifts it. The same
/// script runs against redis-server.
#[test]
fn misconf_after_failed_bgsave() {
    if require_bin("redis-server").is_none() {
        return;
    }
    let misconf = Reply::err(
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.",
    );
    let protected = ["--enable-protected-configs", "yes"];
    for server in [Server::redis(&protected), Server::sluice(2, &protected)] {
        let who = server.name.clone();
        let mut c = server.client();
        let gone = server.dir().join("gone");
        std::fs::create_dir_all(&gone).unwrap();
        let ok = |c: &mut Client, args: &[&str]| {
            assert_eq!(c.cmd_str(args), Reply::ok(), "{who}: {args:?}");
        };
        ok(&mut c, &["SET", "k", "v"]);
        ok(&mut c, &["CONFIG", "SET", "save", "3600 1"]);
        ok(&mut c, &["CONFIG", "SET", "dir", gone.to_str().unwrap()]);
        std::fs::remove_dir(&gone).unwrap();
        let bgsave_done = |c: &mut Client, status: &str| {
            wait_until("the BGSAVE", Duration::from_secs(30), || {
                let mut info = |f| common::repl::info(c, "persistence", f);
                info("rdb_bgsave_in_progress").as_deref() == Some("0")
                    && info("rdb_last_bgsave_status").as_deref() == Some(status)
            });
        };
        assert_eq!(
            c.cmd_str(&["BGSAVE"]),
            Reply::simple("Background saving started"),
            "{who}"
        );
        bgsave_done(&mut c, "err");
        assert_eq!(c.cmd_str(&["SET", "k", "w"]), misconf, "{who}");
        assert_eq!(c.cmd_str(&["PING"]), misconf, "{who}");
        assert_eq!(c.cmd_str(&["GET", "k"]), Reply::bulk("v"), "{who}");
        // Queued writes fail the transaction.
        ok(&mut c, &["MULTI"]);
        assert_eq!(c.cmd_str(&["INCR", "n"]), misconf, "{who}");
        assert_eq!(
            c.cmd_str(&["EXEC"]),
            Reply::err("EXECABORT Transaction discarded because of previous errors."),
            "{who}"
        );
        ok(
            &mut c,
            &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
        );
        ok(&mut c, &["SET", "k", "w"]);
        ok(
            &mut c,
            &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
        );
        assert_eq!(c.cmd_str(&["SET", "k", "x"]), misconf, "{who}");
        ok(&mut c, &["CONFIG", "SET", "save", ""]);
        ok(&mut c, &["SET", "k", "x"]);
        ok(&mut c, &["CONFIG", "SET", "save", "3600 1"]);
        // A new directory at the path: the server's cwd is still the
        // removed one until `dir` is set again.
        std::fs::create_dir_all(&gone).unwrap();
        ok(&mut c, &["CONFIG", "SET", "dir", gone.to_str().unwrap()]);
        assert_eq!(
            c.cmd_str(&["BGSAVE"]),
            Reply::simple("Background saving started"),
            "{who}"
        );
        bgsave_done(&mut c, "ok");
        ok(&mut c, &["SET", "k", "y"]);
        assert_eq!(c.cmd_str(&["PING"]), Reply::simple("PONG"), "{who}");
    }
}

/// `unixsocket` and `unixsocketperm`: a stale file at the path is
/// replaced, the socket gets the mode, redis-cli and redis-benchmark work
/// over it, CLIENT INFO names the client as redis-server does (`path:0`),
/// and the file goes at shutdown. The same steps run against redis-server.
#[test]
fn unix_socket() {
    for bin in ["redis-server", "redis-cli", "redis-benchmark"] {
        if require_bin(bin).is_none() {
            return;
        }
    }
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let base = std::env::temp_dir().join(format!("sluice-unix-{}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    let mut seen = Vec::new();
    for name in ["redis", "sluice"] {
        let path = base.join(format!("{name}.sock"));
        std::fs::write(&path, "stale").unwrap();
        let sock = path.to_str().unwrap().to_string();
        let extra = ["--unixsocket", &sock, "--unixsocketperm", "700"];
        let mut server = match name {
            "redis" => Server::redis(&extra),
            _ => Server::sluice(2, &extra),
        };
        let meta = std::fs::metadata(&path).unwrap();
        assert!(meta.file_type().is_socket(), "{name}: {meta:?}");
        assert_eq!(meta.permissions().mode() & 0o777, 0o700, "{name}");
        let cli = |args: &[&str]| {
            let out = std::process::Command::new("redis-cli")
                .args(["-s", &sock])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{name}: redis-cli {args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let info = cli(&["CLIENT", "INFO"]);
        let field = |f: &str| {
            let start = info.find(&format!(" {f}=")).unwrap() + f.len() + 2;
            info[start..].split(' ').next().unwrap().to_string()
        };
        let (addr, laddr) = (field("addr"), field("laddr"));
        assert_eq!(addr, format!("{sock}:0"), "{name}: {info}");
        assert_eq!(laddr, addr, "{name}");
        seen.push((
            cli(&["PING"]),
            cli(&["SET", "k", "v"]),
            cli(&["GET", "k"]),
            cli(&["CONFIG", "GET", "unixsocketperm"]),
        ));
        let bench = std::process::Command::new("redis-benchmark")
            .args(["-s", &sock, "-n", "2000", "-t", "set,get", "-q"])
            .output()
            .unwrap();
        assert!(bench.status.success(), "{name}: {bench:?}");
        let text = String::from_utf8_lossy(&bench.stdout).into_owned();
        assert!(
            text.contains("SET:") && text.contains("GET:"),
            "{name}: {text}"
        );
        server.client().send_str(&["SHUTDOWN", "NOSAVE"]);
        wait_until("the server to exit", Duration::from_secs(30), || {
            server.try_exit().is_some()
        });
        assert!(!path.exists(), "{name} left its socket file behind");
    }
    assert_eq!(seen[0], seen[1]);
    let _ = std::fs::remove_dir_all(&base);
}

/// Directives whose refusals differ from redis-server's by design: sluice
/// lacks the feature and says so (see `src/config/compat.rs`), or the
/// value is one sluice checks where Redis checks later or not at all.
const REFUSED_BY_DESIGN: [&str; 10] = [
    "activedefrag",
    // sluice pins threads by these; Redis takes any text and fails later.
    "server_cpulist",
    "bgsave_cpulist",
    "notify-keyspace-events",
    "aclfile",
    "cluster-enabled",
    "tls-port",
    "tls-replication",
    "tls-cluster",
    "appendonly",
];

/// Every directive both servers know, given bad values on the command
/// line: sluice stops with redis-server's banner, line and reason (the
/// first four lines of the error; sluice adds where the line came from).
/// A value both accept falls through to a last option both refuse, so
/// accepting alike is compared too.
#[test]
fn config_errors_match_redis_server() {
    if require_bin("redis-server").is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sluice-cfgerr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sluice = Server::sluice(1, &[]);
    let names: Vec<String> = config_map(&mut sluice.client(), "*").into_keys().collect();
    drop(sluice);
    let refusal = |program: &str, name: &str, value: &str| -> String {
        let out = std::process::Command::new(program)
            .current_dir(&dir)
            .args(["--port", "0", &format!("--{name}"), value])
            .args(["--loglevel", "no-such-level"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{program} --{name} {value} started");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        text.replace("(Redis 7.0.15)", "(sluice)")
            .lines()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut wrong = Vec::new();
    let mut compared = 0;
    for name in &names {
        if REFUSED_BY_DESIGN.contains(&name.as_str()) {
            continue;
        }
        for value in ["bogus!", "-1", "99999999999999999999", "1gb", ""] {
            let theirs = refusal("redis-server", name, value);
            if theirs.contains("Bad directive") {
                break; // a name only sluice has
            }
            compared += 1;
            let ours = refusal(common::sluice_bin(), name, value);
            if ours != theirs {
                wrong.push(format!(
                    "--{name} {value:?}:\n  sluice: {ours:?}\n  redis:  {theirs:?}"
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        wrong.is_empty(),
        "{} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(compared > 500, "only {compared} compared");
}

/// CONFIG SET of every directive both servers know, with a spread of
/// values, the same on both: the replies (accepted, or which error) and
/// the value CONFIG GET shows afterwards. Each directive is put back
/// before the next.
#[test]
fn config_set_matches_redis_server() {
    if require_bin("redis-server").is_none() {
        return;
    }
    // Each server has its own `dir`; changing the others would cut the
    // test's own connection or is refused by design (sluice cannot rebind
    // listeners).
    const SKIP: [&str; 7] = [
        "dir",
        "port",
        "bind",
        "requirepass",
        "maxclients",
        "timeout",
        "masterauth",
    ];
    let redis = Server::redis(&[]);
    let sluice = Server::sluice(2, &["--save", ""]);
    let (mut rc, mut sc) = (redis.client(), sluice.client());
    let theirs_all = config_map(&mut rc, "*");
    let ours_all = config_map(&mut sc, "*");
    let mut wrong = Vec::new();
    let mut compared = 0;
    for (name, original) in &ours_all {
        let Some(their_original) = theirs_all.get(name) else {
            continue;
        };
        if SKIP.contains(&name.as_str()) || REFUSED_BY_DESIGN.contains(&name.as_str()) {
            continue;
        }
        for value in [
            "bogus!",
            "-1",
            "0",
            "7",
            "99999999999999999999",
            "1gb",
            "yes",
            "no",
            "",
        ] {
            compared += 1;
            let set = ["CONFIG", "SET", name.as_str(), value];
            let (theirs, ours) = (rc.cmd_str(&set), sc.cmd_str(&set));
            let (got_theirs, got_ours) = (config_map(&mut rc, name), config_map(&mut sc, name));
            if theirs != ours || got_theirs != got_ours {
                wrong.push(format!(
                    "CONFIG SET {name} {value:?}:\n  sluice: {ours} -> {got_ours:?}\n  redis:  {theirs} -> {got_theirs:?}"
                ));
            }
            rc.cmd_str(&["CONFIG", "SET", name, their_original]);
            sc.cmd_str(&["CONFIG", "SET", name, original]);
        }
    }
    assert!(
        wrong.is_empty(),
        "{} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(compared > 1000, "only {compared} compared");
}

/// `syslog-enabled`: log lines reach syslog as `<PRI>... ident[pid]:
/// message` with the facility and level asked for. The test listens on
/// /dev/log itself, so it needs root and no syslog daemon there.
#[test]
fn syslog() {
    let dev_log = Path::new("/dev/log");
    let socket = match UnixDatagram::bind(dev_log) {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!(
                "skipping: cannot listen on /dev/log ({e}): not root, or a syslog daemon has it"
            );
            return;
        }
    };
    struct Unbind;
    impl Drop for Unbind {
        fn drop(&mut self) {
            let _ = std::fs::remove_file("/dev/log");
        }
    }
    let _unbind = Unbind;
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let server = Server::sluice(
        1,
        &[
            "--syslog-enabled",
            "yes",
            "--syslog-ident",
            "sluice-test",
            "--syslog-facility",
            "local3",
        ],
    );
    // local3 (19) * 8 + notice (5).
    let wanted = format!("sluice-test[{}]: Ready to accept connections", server.pid());
    let mut seen = Vec::new();
    loop {
        let mut buf = [0u8; 1024];
        let n = socket.recv(&mut buf).expect("a syslog datagram");
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        if line.contains(&wanted) {
            assert!(line.starts_with("<157>"), "{line}");
            break;
        }
        seen.push(line);
        assert!(seen.len() < 100, "no ready line among {seen:?}");
    }
}

/// `bind-source-addr`: the replica's link to its master leaves from that
/// address, as redis-server's does (the master lists the replica at it).
#[test]
fn bind_source_addr() {
    if require_bin("redis-server").is_none() {
        return;
    }
    // 127.0.0.2 is not a local client to protected mode.
    let master = Server::redis(&["--protected-mode", "no"]);
    let port = master.port.to_string();
    let args = [
        "--replicaof",
        "127.0.0.1",
        &port,
        "--bind-source-addr",
        "127.0.0.2",
    ];
    let mut m = master.client();
    for name in ["redis", "sluice"] {
        let replica = match name {
            "redis" => Server::redis(&args),
            _ => Server::sluice(2, &args),
        };
        wait_until("the replica online", Duration::from_secs(30), || {
            common::repl::info(&mut m, "replication", "slave0")
                .is_some_and(|s| s.contains("state=online"))
        });
        let slave0 = common::repl::info(&mut m, "replication", "slave0").unwrap();
        assert!(
            slave0.starts_with("ip=127.0.0.2,"),
            "{}: {slave0}",
            replica.name
        );
        drop(replica);
        wait_until("the replica gone", Duration::from_secs(30), || {
            common::repl::info(&mut m, "replication", "connected_slaves").as_deref() == Some("0")
        });
    }
}
