//! Redis-style log lines: `pid:M 23 Nov 2026 20:40:01.123 * message`, to
//! `logfile` or stdout, filtered by `loglevel`, and the message alone to
//! syslog when `syslog-enabled` (server.c `serverLogRaw`).
//!
//! Level marks as Redis's: `.` debug, `-` verbose, `*` notice, `#` warning.

use parking_lot::Mutex;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static SINK: Mutex<Option<std::fs::File>> = Mutex::new(None);
static SYSLOG: AtomicBool = AtomicBool::new(false);

/// Copies every line that passes the level to syslog from now on, as
/// `ident` with the `syslog-facility` at `facility` (an index into
/// [`crate::config::SYSLOG_FACILITIES`]).
pub fn open_syslog(ident: &str, facility: usize) {
    const FACILITIES: [libc::c_int; 9] = [
        libc::LOG_USER,
        libc::LOG_LOCAL0,
        libc::LOG_LOCAL1,
        libc::LOG_LOCAL2,
        libc::LOG_LOCAL3,
        libc::LOG_LOCAL4,
        libc::LOG_LOCAL5,
        libc::LOG_LOCAL6,
        libc::LOG_LOCAL7,
    ];
    let Ok(ident) = std::ffi::CString::new(ident) else {
        return;
    };
    // Once per process: syslog keeps the pointer.
    let ident: &'static std::ffi::CStr = Box::leak(ident.into_boxed_c_str());
    let facility = FACILITIES
        .get(facility)
        .copied()
        .unwrap_or(libc::LOG_LOCAL0);
    crate::io::sys::open_syslog(ident, facility);
    SYSLOG.store(true, Ordering::Release);
}

/// Sets the minimum level written.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Sends lines to `path` (appending), or to stdout when empty.
pub fn set_file(path: &str) -> std::io::Result<()> {
    let file = if path.is_empty() {
        None
    } else {
        Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        )
    };
    *SINK.lock() = file;
    Ok(())
}

pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line if `level` passes the filter.
pub fn write(level: Level, msg: std::fmt::Arguments) {
    if !enabled(level) {
        return;
    }
    let mark = match level {
        Level::Debug => '.',
        Level::Verbose => '-',
        Level::Notice => '*',
        Level::Warning => '#',
    };
    let line = format!(
        "{}:M {} {} {}\n",
        std::process::id(),
        timestamp(),
        mark,
        msg
    );
    let mut sink = SINK.lock();
    let _ = match sink.as_mut() {
        Some(file) => file.write_all(line.as_bytes()),
        None => std::io::stdout().lock().write_all(line.as_bytes()),
    };
    drop(sink);
    if SYSLOG.load(Ordering::Acquire) {
        let priority = match level {
            Level::Debug => libc::LOG_DEBUG,
            Level::Verbose => libc::LOG_INFO,
            Level::Notice => libc::LOG_NOTICE,
            Level::Warning => libc::LOG_WARNING,
        };
        crate::io::sys::syslog(priority, &msg.to_string());
    }
}

/// `23 Nov 2026 20:40:01.123` in UTC.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let tod = secs % 86_400;
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        tod / 3600,
        tod / 60 % 60,
        tod % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) (H. Hinnant).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[macro_export]
macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => { $crate::log::write($level, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! warning { ($($arg:tt)*) => { $crate::log_at!($crate::log::Level::Warning, $($arg)*) }; }
#[macro_export]
macro_rules! notice { ($($arg:tt)*) => { $crate::log_at!($crate::log::Level::Notice, $($arg)*) }; }
#[macro_export]
macro_rules! verbose { ($($arg:tt)*) => { $crate::log_at!($crate::log::Level::Verbose, $($arg)*) }; }
#[macro_export]
macro_rules! debug { ($($arg:tt)*) => { $crate::log_at!($crate::log::Level::Debug, $($arg)*) }; }

impl From<crate::config::LogLevel> for Level {
    fn from(level: crate::config::LogLevel) -> Level {
        use crate::config::LogLevel as L;
        match level {
            L::Debug => Level::Debug,
            L::Verbose => Level::Verbose,
            L::Notice => Level::Notice,
            L::Warning => Level::Warning,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
