//! What redis-server does for its process manager (server.c `daemonize`,
//! `createPidFile`, `redisIsSupervised`, `redisCommunicateSystemd`): fork
//! into the background, write the pid file, and tell upstart or systemd
//! when the server is ready and when it stops.

use crate::config::{Config, Supervised};
use crate::io::sys;
use std::io;
use std::os::unix::net::UnixDatagram;

/// Redis `CONFIG_DEFAULT_PID_FILE`: the pid file of a daemonized server
/// whose config names none.
pub const DEFAULT_PID_FILE: &str = "/var/run/redis.pid";

/// The supervisor found at startup (`supervised`), if any.
pub struct Supervisor {
    /// INFO `process_supervised`.
    name: &'static str,
    /// systemd's notification socket; `None` under upstart, which only
    /// needed the SIGSTOP.
    systemd: Option<std::os::unix::net::SocketAddr>,
}

impl Supervisor {
    /// Redis `redisIsSupervised`: resolves `auto` from the environment and
    /// signals the supervisor that loading began (upstart: the process
    /// stops itself; systemd: a STATUS line). `None` when there is no
    /// supervisor to talk to (then `daemonize` applies).
    pub fn detect(mode: Supervised) -> Option<Supervisor> {
        let mode = match mode {
            Supervised::Auto if std::env::var_os("UPSTART_JOB").is_some() => Supervised::Upstart,
            Supervised::Auto if std::env::var_os("NOTIFY_SOCKET").is_some() => Supervised::Systemd,
            other => other,
        };
        match mode {
            Supervised::Upstart => {
                if std::env::var_os("UPSTART_JOB").is_none() {
                    crate::warning!("upstart supervision requested, but UPSTART_JOB not found!");
                    return None;
                }
                crate::notice!("supervised by upstart, will stop to signal readiness.");
                sys::stop_self();
                std::env::remove_var("UPSTART_JOB");
                Some(Supervisor {
                    name: "upstart",
                    systemd: None,
                })
            }
            Supervised::Systemd => {
                let Some(addr) = notify_socket() else {
                    crate::warning!("systemd supervision error: NOTIFY_SOCKET not found!");
                    return None;
                };
                let supervisor = Supervisor {
                    name: "systemd",
                    systemd: Some(addr),
                };
                supervisor.notify("STATUS=Redis is loading...\n").ok()?;
                crate::notice!(
                    "Supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit."
                );
                Some(supervisor)
            }
            Supervised::Auto | Supervised::No => None,
        }
    }

    /// Once the server accepts connections.
    pub fn ready(&self, replica: bool) {
        let _ = self.notify(if replica {
            "STATUS=Ready to accept connections in read-only mode. Waiting for MASTER <-> REPLICA sync\n"
        } else {
            "STATUS=Ready to accept connections\n"
        });
        let _ = self.notify("READY=1\n");
    }

    /// When shutdown begins.
    pub fn stopping(&self) {
        let _ = self.notify("STOPPING=1\n");
    }

    /// sd_notify(3): one datagram to `$NOTIFY_SOCKET`.
    fn notify(&self, message: &str) -> io::Result<()> {
        let Some(addr) = &self.systemd else {
            return Ok(());
        };
        let sent = UnixDatagram::unbound().and_then(|s| s.send_to_addr(message.as_bytes(), addr));
        if let Err(e) = &sent {
            crate::warning!("systemd supervision error: sd_notify: {e}");
        }
        sent.map(drop)
    }
}

/// `$NOTIFY_SOCKET` as an address: a path, or `@name` for the abstract
/// namespace.
fn notify_socket() -> Option<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;
    let value = std::env::var_os("NOTIFY_SOCKET")?;
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(value.as_os_str());
    match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name).ok(),
        None => SocketAddr::from_pathname(std::path::Path::new(&value)).ok(),
    }
}

/// What this run owes its process manager.
pub struct Duties {
    supervisor: Option<Supervisor>,
    /// `pidfile`, or the default one for a daemonized server (server.c:
    /// `if (background || server.pidfile)`).
    pid_file: Option<String>,
}

impl Duties {
    /// At startup, before any thread: finds the supervisor and, with
    /// `daemonize yes` and none, goes to the background (Redis:
    /// `background = server.daemonize && !server.supervised`).
    pub fn begin(config: &Config) -> io::Result<Duties> {
        let supervisor = Supervisor::detect(config.supervised);
        let background = config.daemonize && supervisor.is_none();
        if background {
            sys::daemonize()?;
        }
        let pid_file = match &config.pidfile {
            Some(path) => Some(path.clone()),
            None => background.then(|| DEFAULT_PID_FILE.to_string()),
        };
        Ok(Duties {
            supervisor,
            pid_file,
        })
    }

    /// INFO `process_supervised`: `upstart`, `systemd` or `no`.
    pub fn supervised(&self) -> &'static str {
        self.supervisor.as_ref().map_or("no", |s| s.name)
    }

    /// Once the server listens: the pid file (best effort, as Redis's
    /// `createPidFile`), then readiness.
    pub fn ready(&self, replica: bool) {
        if let Some(path) = &self.pid_file {
            if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
                crate::warning!("Failed to write PID file {path}: {e}");
            }
        }
        if let Some(supervisor) = &self.supervisor {
            supervisor.ready(replica);
        }
    }

    /// When shutdown begins.
    pub fn stopping(&self) {
        if let Some(supervisor) = &self.supervisor {
            supervisor.stopping();
        }
    }

    /// At exit: the pid file goes.
    pub fn end(&self) {
        if let Some(path) = &self.pid_file {
            let _ = std::fs::remove_file(path);
        }
    }
}
