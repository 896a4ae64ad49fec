//! Key eviction under `maxmemory` (evict.c), over the striped keyspace.
//!
//! Redis keeps a pool of the best candidates across calls; sluice samples
//! `maxmemory-samples` keys from random stripes per victim and evicts the
//! best one by the policy's score (idle time, LFU counter, nearest TTL, or
//! any), which is the same approximation with a pool of one.

use super::Server;
use crate::config::MaxmemoryPolicy;
use crate::protocol::Argv;
use crate::store::{lfu_minutes, Key, STRIPES};

/// The best key to evict among `samples` random ones, as (db, key).
pub fn pick_victim(srv: &Server, policy: MaxmemoryPolicy, samples: usize) -> Option<(usize, Key)> {
    let now_ms = srv.now_ms();
    let clock = srv.lru_clock();
    let lfu = srv.lfu_params();
    let mut best: Option<(u64, usize, Key)> = None;
    let databases = srv.keyspace.databases();
    // More tries than samples: stripes may be empty or hold no volatile key.
    for _ in 0..samples * 8 {
        let stripe_index = crate::cmd::keys::random_u64() as usize % STRIPES;
        let stripe = srv.keyspace.lock_read(stripe_index);
        // The first database (from a random one) with candidates here.
        let start = crate::cmd::keys::random_u64() as usize % databases;
        let usable = (0..databases).map(|d| (start + d) % databases).find(|&d| {
            !stripe.dbs[d].map.is_empty() && (!policy.volatile() || stripe.dbs[d].expires() > 0)
        });
        let Some(db) = usable else { continue };
        let d = &stripe.dbs[db];
        // Hash-table order is already pseudo-random: look a few entries in.
        let skip = crate::cmd::keys::random_u64() as usize % d.map.len().min(16);
        let found = if policy.volatile() {
            d.with_ttl(skip)
        } else {
            d.map.iter().nth(skip)
        };
        let Some((key, entry)) = found else { continue };
        let score = match policy {
            MaxmemoryPolicy::AllkeysLru | MaxmemoryPolicy::VolatileLru => {
                u64::from(clock.saturating_sub(entry.access_s))
            }
            MaxmemoryPolicy::AllkeysLfu | MaxmemoryPolicy::VolatileLfu => {
                let params = lfu.unwrap_or(crate::store::LfuParams {
                    log_factor: 10,
                    decay_minutes: 1,
                });
                255 - u64::from(entry.lfu_decayed(lfu_minutes(now_ms), params))
            }
            MaxmemoryPolicy::VolatileTtl => u64::MAX - entry.expire_ms,
            MaxmemoryPolicy::AllkeysRandom
            | MaxmemoryPolicy::VolatileRandom
            | MaxmemoryPolicy::NoEviction => 0,
        };
        if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
            best = Some((score, db, key.into()));
        }
        if best.is_some() && samples == 1 {
            break;
        }
    }
    best.map(|(_, db, key)| (db, key))
}

/// Deletes `key` from `db` if still there: WATCH sees it, the replication
/// stream gets a bare DEL (evict.c propagates without MULTI).
pub fn evict(srv: &Server, db: usize, key: &[u8]) -> bool {
    let Some(stripe) = srv.keyspace.remove_key(db, key) else {
        return false;
    };
    stripe.touch_watched(db, key);
    if srv.propagation_enabled() {
        srv.propagate(vec![(db, Argv::from_slices(&[&b"DEL"[..], key]))]);
    }
    srv.notify_key(crate::store::events::EVICTED, "evicted", db, key);
    true
}
