//! The pub/sub registry shared by all shards: who listens to which channel
//! or pattern (pubsub.c's `server.pubsub_channels` / `pubsub_patterns`).
//!
//! Subscribers are named by client id and shard; PUBLISH looks them up
//! under the registry lock and the owning shards deliver (each encodes the
//! message for its client's protocol). Invariant: a channel or pattern with
//! no subscriber has no entry.

use crate::glob::glob_match;
use crate::store::events::{self, Event};
use hashbrown::HashMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A subscribed client: where to deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscriber {
    pub id: u64,
    pub shard: usize,
}

#[derive(Default)]
pub struct PubSub {
    channels: HashMap<Vec<u8>, Vec<Subscriber>>,
    /// Pattern -> subscribers, in subscription order per pattern.
    patterns: HashMap<Vec<u8>, Vec<Subscriber>>,
}

/// One delivery of a PUBLISH: to `to`, through `pattern` when it matched
/// a pattern subscription.
pub struct Delivery<'a> {
    pub to: Subscriber,
    pub pattern: Option<&'a [u8]>,
}

fn add(map: &mut HashMap<Vec<u8>, Vec<Subscriber>>, key: &[u8], sub: Subscriber) {
    let subs = map.entry_ref(key).or_default();
    if !subs.contains(&sub) {
        subs.push(sub);
    }
}

fn remove(map: &mut HashMap<Vec<u8>, Vec<Subscriber>>, key: &[u8], id: u64) {
    if let Some(subs) = map.get_mut(key) {
        subs.retain(|s| s.id != id);
        if subs.is_empty() {
            map.remove(key);
        }
    }
}

impl PubSub {
    pub fn subscribe(&mut self, channel: &[u8], sub: Subscriber) {
        add(&mut self.channels, channel, sub);
    }

    pub fn unsubscribe(&mut self, channel: &[u8], id: u64) {
        remove(&mut self.channels, channel, id);
    }

    pub fn psubscribe(&mut self, pattern: &[u8], sub: Subscriber) {
        add(&mut self.patterns, pattern, sub);
    }

    pub fn punsubscribe(&mut self, pattern: &[u8], id: u64) {
        remove(&mut self.patterns, pattern, id);
    }

    /// Everyone a message on `channel` reaches: channel subscribers first,
    /// then pattern matches (pubsub.c `pubsubPublishMessage`).
    pub fn receivers(&self, channel: &[u8]) -> Vec<Delivery<'_>> {
        let mut out: Vec<Delivery> = self
            .channels
            .get(channel)
            .into_iter()
            .flatten()
            .map(|&to| Delivery { to, pattern: None })
            .collect();
        for (pattern, subs) in &self.patterns {
            if glob_match(pattern, channel, false) {
                out.extend(subs.iter().map(|&to| Delivery {
                    to,
                    pattern: Some(pattern.as_slice()),
                }));
            }
        }
        out
    }

    /// Active channels matching `pattern` (all when `None`).
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.get(channel).map_or(0, Vec::len)
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }
}

impl super::Server {
    /// Sends `message` on `channel` to every subscriber (pubsub.c
    /// `pubsubPublishMessage`); returns how many received it. Each
    /// receiver's shard gets one message listing its clients.
    pub fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        let mut per_shard: Vec<super::DeliveryTargets> = vec![Vec::new(); self.threads];
        let receivers = {
            let registry = self.pubsub.lock();
            let receivers = registry.receivers(channel);
            for d in &receivers {
                if let Some(list) = per_shard.get_mut(d.to.shard) {
                    list.push((d.to.id, d.pattern.map(Arc::from)));
                }
            }
            receivers.len()
        };
        if receivers == 0 {
            return 0;
        }
        let channel: Arc<[u8]> = channel.into();
        let message: Arc<[u8]> = message.into();
        for (shard, targets) in per_shard.into_iter().enumerate() {
            if targets.is_empty() {
                continue;
            }
            if let Some(handle) = self.shard_handles().get(shard) {
                handle.send(super::ShardMsg::Deliver {
                    targets,
                    channel: channel.clone(),
                    message: message.clone(),
                });
            }
        }
        receivers
    }

    /// One keyspace event outside a command (active expiry, eviction), if
    /// its class is on.
    pub fn notify_key(&self, class: u32, name: &'static str, db: usize, key: &[u8]) {
        if self.notify_flags.load(Ordering::Relaxed) & class != 0 {
            self.publish_events(&[Event {
                name,
                db,
                key: key.into(),
            }]);
        }
    }

    /// Publishes keyspace events (notify.c `notifyKeyspaceEvent`): `event`
    /// on `__keyspace@<db>__:<key>` (K), `key` on `__keyevent@<db>__:<event>`
    /// (E), in the order they happened.
    pub fn publish_events(&self, events: &[Event]) {
        let flags = self.notify_flags.load(Ordering::Relaxed);
        let mut channel = Vec::new();
        for e in events {
            if flags & events::KEYSPACE != 0 {
                channel.clear();
                write!(channel, "__keyspace@{}__:", e.db).ok();
                channel.extend_from_slice(&e.key);
                self.publish(&channel, e.name.as_bytes());
            }
            if flags & events::KEYEVENT != 0 {
                channel.clear();
                write!(channel, "__keyevent@{}__:{}", e.db, e.name).ok();
                self.publish(&channel, &e.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_vanish_with_their_last_subscriber() {
        let mut ps = PubSub::default();
        let a = Subscriber { id: 1, shard: 0 };
        let b = Subscriber { id: 2, shard: 1 };
        ps.subscribe(b"news", a);
        ps.subscribe(b"news", a);
        ps.subscribe(b"news", b);
        ps.psubscribe(b"n*", b);
        assert_eq!(ps.numsub(b"news"), 2);
        let got: Vec<_> = ps
            .receivers(b"news")
            .iter()
            .map(|d| (d.to.id, d.pattern.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(got, vec![(1, None), (2, None), (2, Some(b"n*".to_vec()))]);
        ps.unsubscribe(b"news", 1);
        ps.unsubscribe(b"news", 2);
        ps.punsubscribe(b"n*", 2);
        assert_eq!((ps.channel_count(), ps.pattern_count()), (0, 0));
        assert!(ps.receivers(b"news").is_empty());
    }
}
