//! Thin, safe wrappers over the libc calls the server makes outside the
//! ring: eventfds, socket options, peer addresses, close and signals.
//! None of them blocks: sockets are non-blocking and eventfd writes only
//! add to a counter.
#![allow(unsafe_code)]

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A non-blocking, close-on-exec eventfd.
pub fn eventfd() -> io::Result<RawFd> {
    // SAFETY: eventfd takes no pointers.
    check(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })
}

/// Adds 1 to an eventfd, waking a reader. EAGAIN (counter saturated) means
/// the reader is already due to wake, so it is ignored.
pub fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: the pointer is to a live u64 of the size passed.
    let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

pub fn close(fd: RawFd) {
    // SAFETY: closing an fd we own; the caller never uses it again.
    unsafe { libc::close(fd) };
}

/// Writes what it can of `data` to a non-blocking socket (used only for the
/// one-line rejections sent before a connection is set up).
pub fn write_nonblocking(fd: RawFd, data: &[u8]) {
    // SAFETY: the pointer and length describe a live slice.
    let _ = unsafe {
        libc::send(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
}

/// Waits up to `timeout_ms` for `fd` to become writable (a non-blocking
/// connect finishing); false on timeout.
pub fn poll_writable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one live pollfd, count 1.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(err);
    }
    Ok(n > 0)
}

/// Reads what is already queued on a socket without waiting, as `read`
/// does on a non-blocking socket (`WouldBlock` when nothing is, `Ok(0)`
/// at end of stream).
pub fn recv_nonblocking(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe a live, writable slice.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n >= 0 {
        return Ok(n as usize);
    }
    Err(io::Error::last_os_error())
}

/// One `recv` (honouring the socket's receive timeout) appended to `buf`:
/// up to `max` bytes land in its spare capacity, with no copy through
/// another buffer and no zeroing. Returns the bytes read (0: end of
/// stream).
pub fn recv_append(fd: RawFd, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    buf.reserve(max);
    let spare = buf.spare_capacity_mut();
    let want = spare.len().min(max);
    // SAFETY: the pointer and length describe `buf`'s live spare capacity,
    // which recv may write; only the bytes it reports are then exposed.
    let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), want, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    // SAFETY: recv initialized the first n (<= want) spare bytes.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the pointer is to a live c_int of the size passed.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as _,
        )
    })
    .map(drop)
}

pub fn set_nodelay(fd: RawFd) -> io::Result<()> {
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// SO_KEEPALIVE with Redis's `anetKeepAlive` timings for `interval` seconds.
pub fn set_keepalive(fd: RawFd, interval: u32) -> io::Result<()> {
    let interval = libc::c_int::try_from(interval.max(1)).unwrap_or(libc::c_int::MAX);
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, interval)?;
    setsockopt_int(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        (interval / 3).max(1),
    )?;
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3)
}

fn sockaddr(fd: RawFd, peer: bool) -> Option<SocketAddr> {
    // SAFETY: sockaddr_storage is plain data; zeroed is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let ptr = (&mut storage as *mut libc::sockaddr_storage).cast();
    // SAFETY: storage and len are live and len holds storage's size.
    let ret = unsafe {
        if peer {
            libc::getpeername(fd, ptr, &mut len)
        } else {
            libc::getsockname(fd, ptr, &mut len)
        }
    };
    if ret < 0 {
        return None;
    }
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin: &libc::sockaddr_in =
                unsafe { &*(&storage as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6: &libc::sockaddr_in6 =
                unsafe { &*(&storage as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(sin6.sin6_port))))
        }
        _ => None,
    }
}

pub fn peer_addr(fd: RawFd) -> Option<SocketAddr> {
    sockaddr(fd, true)
}

pub fn local_addr(fd: RawFd) -> Option<SocketAddr> {
    sockaddr(fd, false)
}

/// The process's CPU affinity before any shard pinned itself.
static PROCESS_CPUS: std::sync::OnceLock<libc::cpu_set_t> = std::sync::OnceLock::new();

/// Records the process's CPU affinity; call before the shard threads pin
/// themselves (a thread inherits its creator's mask).
pub fn save_process_cpus() {
    PROCESS_CPUS.get_or_init(|| {
        // SAFETY: cpu_set_t is plain data; the kernel writes at most its size.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
            set
        }
    });
}

/// Lets the calling thread run on every CPU the process may use. Threads a
/// shard spawns (replication links and senders, saves, their helpers)
/// would otherwise inherit the shard's pin: a whole full sync, master and
/// replica, ran on one core of two while the other idled.
pub fn unpin_current_thread() {
    if let Some(set) = PROCESS_CPUS.get() {
        // SAFETY: `set` is a live cpu_set_t of the size passed.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set);
        }
    }
}

/// Asks the CPU to bring the cache line at `ptr` in (no effect elsewhere).
#[inline]
pub fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and cannot fault,
    // whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch(ptr.cast::<i8>(), core::arch::x86_64::_MM_HINT_T0);
    }
}

/// Sets the calling thread's name (its `comm`, at most 15 bytes shown).
pub fn name_current_thread(name: &std::ffi::CStr) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string, which `name` is.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, name.as_ptr());
    }
}

/// Runs the calling thread on `cpus` only (ids up to
/// [`crate::config::CPU_ID_MAX`], as the config allows).
pub fn set_thread_cpus(cpus: &[usize]) {
    // SAFETY: cpu_set_t is plain data, `cpus` fit in it (CPU_SET panics
    // rather than write past it), and the set passed is a live local.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Blocks SIGTERM and SIGINT in the calling thread (and the threads it
/// spawns later) and ignores SIGPIPE, so that only [`wait_signal`] sees them.
pub fn block_signals() {
    // SAFETY: sigset_t is plain data and every pointer is to a live local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Waits for SIGTERM or SIGINT (blocked by [`block_signals`]) and returns it.
pub fn wait_signal() -> libc::c_int {
    // SAFETY: as in block_signals; sigwait writes the signal number to a live local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let mut sig: libc::c_int = 0;
        libc::sigwait(&set, &mut sig);
        sig
    }
}

/// Redis `daemonize`: the parent exits, the child leaves the terminal's
/// session and points stdin, stdout and stderr at /dev/null. Must run
/// before any thread starts (fork copies only the caller).
pub fn daemonize() -> io::Result<()> {
    // SAFETY: no other thread exists yet (see above); the child goes on
    // with a copy of this single-threaded process.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {}
        // SAFETY: _exit(2) ends the parent without running the child's
        // share of destructors or flushing buffers twice.
        _ => unsafe { libc::_exit(0) },
    }
    // SAFETY: plain syscalls on descriptors this process owns.
    unsafe {
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd != -1 {
            libc::dup2(fd, libc::STDIN_FILENO);
            libc::dup2(fd, libc::STDOUT_FILENO);
            libc::dup2(fd, libc::STDERR_FILENO);
            if fd > libc::STDERR_FILENO {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

/// openlog(3) with Redis's options; `ident` must live as long as the
/// process (syslog keeps the pointer).
pub fn open_syslog(ident: &'static std::ffi::CStr, facility: libc::c_int) {
    // SAFETY: `ident` is 'static, as openlog requires.
    unsafe {
        libc::openlog(
            ident.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY | libc::LOG_NOWAIT,
            facility,
        )
    };
}

/// syslog(3) of one message at `priority`, passed as `%s` (no format).
pub fn syslog(priority: libc::c_int, message: &str) {
    let Ok(message) = std::ffi::CString::new(message) else {
        return;
    };
    // SAFETY: a constant format with one string argument, both C strings.
    unsafe { libc::syslog(priority, c"%s".as_ptr(), message.as_ptr()) };
}

/// Stops this process (SIGSTOP), as upstart's `expect stop` awaits.
pub fn stop_self() {
    // SAFETY: raise takes no pointers.
    unsafe { libc::raise(libc::SIGSTOP) };
}

pub fn raise_sigterm() {
    // SAFETY: kill takes no pointers.
    unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
}

/// CPU user and system time of the process, in seconds (INFO cpu).
pub fn cpu_times(who: libc::c_int) -> (f64, f64) {
    // SAFETY: rusage is plain data; getrusage writes into a live local.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(usage.ru_stime), secs(usage.ru_utime))
}

pub const RUSAGE_SELF: libc::c_int = libc::RUSAGE_SELF;
pub const RUSAGE_CHILDREN: libc::c_int = libc::RUSAGE_CHILDREN;

/// Current resident set size in bytes, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf takes no pointers.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// Raises RLIMIT_NOFILE's soft limit towards `wanted` (at most the hard
/// limit) and returns the limit in force afterwards.
pub fn raise_nofile(wanted: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a live local of the right type.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return wanted;
    }
    if lim.rlim_cur >= wanted {
        return lim.rlim_cur;
    }
    let target = libc::rlimit {
        rlim_cur: wanted.min(lim.rlim_max),
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads a live local of the right type.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &target) } == 0 {
        target.rlim_cur
    } else {
        lim.rlim_cur
    }
}

/// An append-only unnamed file in the working directory (`dir`):
/// O_TMPFILE, or on a filesystem without it a file created and unlinked
/// at once, so it disappears with its descriptor even if the process dies.
/// Where bytes wait when memory should not hold them (a syncing replica's
/// stream, snapshot stripes commands saved while the queue was full).
pub struct Scratch {
    file: std::fs::File,
    len: u64,
}

impl Scratch {
    pub fn new() -> std::io::Result<Scratch> {
        use std::os::unix::fs::OpenOptionsExt;
        let open = |path: &std::path::Path, flags: i32, create: bool| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(create)
                .custom_flags(flags)
                .mode(0o600)
                .open(path)
        };
        let file = match open(std::path::Path::new("."), libc::O_TMPFILE, false) {
            Ok(file) => file,
            Err(_) => {
                static FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path =
                    std::path::PathBuf::from(format!("temp-scratch-{}-{n}", std::process::id()));
                let file = open(&path, 0, true)?;
                std::fs::remove_file(&path)?;
                file
            }
        };
        Ok(Scratch { file, len: 0 })
    }

    /// Bytes appended since creation or the last [`Scratch::clear`].
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(bytes, self.len)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Fills `out` from offset `at`.
    pub fn read_at(&self, out: &mut [u8], at: u64) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.read_exact_at(out, at)
    }

    /// A second descriptor, to read appended bytes without holding
    /// whatever lock guards the appends.
    pub fn reader(&self) -> std::io::Result<std::fs::File> {
        self.file.try_clone()
    }

    pub fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.len = 0;
        Ok(())
    }
}

/// Sends `size` bytes of `file` from its start to `sock` with sendfile(2)
/// (page cache to socket, no copy through user space), at an offset of
/// its own so several senders can share one file, at most `chunk` bytes
/// per call; `on_sent(n)` after each (progress, pacing).
pub fn send_file(
    sock: &std::net::TcpStream,
    file: &std::fs::File,
    size: u64,
    chunk: usize,
    on_sent: &mut dyn FnMut(u64),
) -> std::io::Result<u64> {
    use std::os::fd::AsRawFd;
    let mut offset: libc::off_t = 0;
    let end = libc::off_t::try_from(size).map_err(std::io::Error::other)?;
    while offset < end {
        let chunk = usize::try_from(end - offset)
            .unwrap_or(usize::MAX)
            .min(chunk);
        // SAFETY: both descriptors are open for the borrows' lifetime and
        // `offset` is a valid off_t the kernel updates.
        let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut offset, chunk) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        on_sent(n as u64);
    }
    Ok(offset as u64)
}
