//! Replication (Redis's PSYNC2): the backlog ring, and the replica's
//! handshake and full-sync framing (sans-IO, checked against a real
//! redis-server master); the master and replica sides build on them.

pub mod backlog;
pub mod handshake;
