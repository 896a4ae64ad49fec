//! sluice: a Redis-protocol server built around replication.
//!
//! # Architecture (one page)
//!
//! ```text
//!   SO_REUSEPORT listeners, one per shard thread, same port
//!        |                    |
//!   +----------+         +----------+
//!   | shard 0  |         | shard 1  |     one thread per CPU, each with its
//!   | io_uring |         | io_uring |     own io_uring: accept, recv, send, timers
//!   | conns    |         | conns    |     connections live on the shard that accepted them
//!   +----+-----+         +-----+----+
//!        |  lock stripe(s) in index order, execute, unlock
//!        v                     v
//!   +-------------------------------------------+
//!   | Keyspace: 8192 stripes, Mutex<Stripe>      |  key -> slot (CRC16, hash tags) -> stripe
//!   +-------------------------------------------+
//! ```
//!
//! DESIGN.md recommends shard-owned keys with cross-shard hops; it also allows
//! a lock-striped keyspace shared by the per-core IO threads "if hops still
//! dominate". Measured here (`cargo bench --bench hop`, 2-vCPU VM): locking
//! an uncontended stripe costs 5 ns, while a request/reply over a crossbeam
//! channel to another thread costs 240-300 ns even with both threads awake,
//! and waking a parked shard costs 85-120 us (DESIGN.md's own numbers). With
//! 8192 stripes two threads rarely meet on one. So every shard thread
//! executes any command itself: it locks the stripes of the command's keys
//! in ascending order (no deadlock), runs it, and unlocks. Multi-key
//! commands and MULTI/EXEC are atomic because all their stripes are held at
//! once. Cross-thread messages that are not key access (CLIENT KILL,
//! MONITOR, shutdown) still travel over crossbeam channels with an eventfd
//! wakeup. A stripe is also the unit a forkless snapshot walks, and every
//! write appends its propagation form to the replication backlog while its
//! stripes are held, which keeps per-key order in the stream.
//!
//! Shard threads are pinned only when `server-cpu-list` names their CPUs
//! (as Redis pins only with `server_cpulist`). DESIGN.md pins one per CPU;
//! on a host whose CPUs are shared (clients, a replica, a save on the same
//! cores) a pinned shard cannot move off a CPU another process took, and
//! waits out a scheduler slice: `redis-benchmark -P 1 -c 50` on this 2-CPU
//! VM ran at 125k req/s pinned, 170k unpinned (Redis 155k); pipelined
//! throughput was the same either way. A dedicated host pins with
//! `server-cpu-list` (the tuning profile's advice, next to IRQ affinity).
//!
//! Replication (`repl`): a lock-free multi-producer ring holds the stream;
//! at the end of each event-loop round a shard that wrote sends the new
//! bytes to the streaming replicas itself (non-blocking); one sender thread
//! per replica does full syncs and whatever a shard could not send, one
//! watcher thread per replica reads its ACKs. A replica's link thread
//! applies its master's stream through the normal command path and appends
//! the same bytes to its own ring for sub-replicas.
//!
//! # Module map
//!
//! - [`protocol`]: RESP2/3 request parser and reply encoder (sans-IO).
//! - [`config`]: typed config, redis.conf grammar, CONFIG GET/SET/REWRITE.
//! - [`store`]: keyspace stripes, values, expiry. No IO.
//! - [`rdb`]: the RDB format: encoder, incremental decoder, DUMP payloads (sans-IO).
//! - [`cmd`]: the command table and one file per command family.
//! - [`server`]: shard threads, the io_uring event loop, connections, persistence.
//! - [`repl`]: PSYNC2 master and replica, the backlog ring, WAIT, FAILOVER.
//! - [`io`]: io_uring helpers (buffer rings); most `unsafe` lives here.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(unsafe_op_in_unsafe_fn)]

pub mod cmd;
pub mod config;
pub mod glob;
pub mod io;
pub mod log;
pub mod num;
pub mod protocol;
pub mod rdb;
pub mod repl;
pub mod server;
pub mod store;
