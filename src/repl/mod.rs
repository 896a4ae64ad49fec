//! Replication (Redis's PSYNC2): the backlog ring now; the master and
//! replica sides build on it.

pub mod backlog;
