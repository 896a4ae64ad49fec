//! Replication (Redis's PSYNC2): the backlog ring, and the replica's
//! handshake and full-sync framing (sans-IO, checked against a real
//! redis-server master); the master and replica sides build on them.

pub mod backlog;
pub mod handshake;
pub mod master;
pub mod replica;

use parking_lot::Mutex;

/// The server's replication role: a master unless a link to a master is
/// configured (REPLICAOF host port).
#[derive(Default)]
pub struct Replication {
    master: Mutex<Option<replica::Link>>,
    /// Replicas attached to this server.
    pub replicas: master::Replicas,
}

impl Replication {
    pub fn is_replica(&self) -> bool {
        self.master.lock().is_some()
    }

    /// The link's shared status while this server is a replica.
    pub fn link_status(&self) -> Option<std::sync::Arc<replica::LinkStatus>> {
        self.master
            .lock()
            .as_ref()
            .map(|l| std::sync::Arc::clone(&l.status))
    }

    /// Replaces the link (REPLICAOF); `None` makes this server a master.
    /// The old link's thread is stopped first.
    pub fn set_master(&self, link: Option<replica::Link>) {
        let old = std::mem::replace(&mut *self.master.lock(), link);
        if let Some(old) = old {
            old.stop();
        }
    }
}
