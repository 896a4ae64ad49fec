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
    channels: HashMap<Arc<[u8]>, Vec<Subscriber>>,
    /// Pattern -> subscribers, in subscription order per pattern. Shared
    /// so that every delivery through a pattern names it without a copy.
    patterns: HashMap<Arc<[u8]>, Vec<Subscriber>>,
}

/// One delivery of a PUBLISH: to `to`, through `pattern` when it matched
/// a pattern subscription.
pub struct Delivery<'a> {
    pub to: Subscriber,
    pub pattern: Option<&'a Arc<[u8]>>,
}

/// What one shard delivers, in order: each message's channel and payload
/// once in `bytes`, and one item per (message, client). Two allocations
/// however many messages a command publishes: they are freed by the
/// receiving shard, and every allocation freed on another thread than
/// its own costs a malloc arena lock (with one message per event, a
/// pattern subscriber to every event held SET at 0.55x of Redis).
#[derive(Default)]
pub struct Deliveries {
    bytes: Vec<u8>,
    items: Vec<Item>,
}

struct Item {
    client: u64,
    /// The pattern that matched, for a pattern subscription.
    pattern: Option<Arc<[u8]>>,
    /// Where the channel starts in `bytes`, and the two lengths.
    at: usize,
    channel_len: usize,
    payload_len: usize,
}

impl Deliveries {
    /// (client id, pattern, channel, payload) in publication order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Option<&[u8]>, &[u8], &[u8])> {
        self.items.iter().map(|i| {
            let channel = &self.bytes[i.at..i.at + i.channel_len];
            let payload_at = i.at + i.channel_len;
            let payload = &self.bytes[payload_at..payload_at + i.payload_len];
            (i.client, i.pattern.as_deref(), channel, payload)
        })
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends `more` after these (merging one round's deliveries).
    pub fn extend(&mut self, more: Deliveries) {
        let offset = self.bytes.len();
        self.bytes.extend_from_slice(&more.bytes);
        self.items.extend(more.items.into_iter().map(|mut item| {
            item.at += offset;
            item
        }));
    }
}

/// Deliveries gathered per shard, sent once all are known: one message
/// (and one wake-up) per shard for a PUBLISH or a command's events.
struct Outbox {
    per_shard: Vec<Deliveries>,
    /// Where the message being added sits in each shard's bytes.
    placed: Vec<Option<usize>>,
}

impl Outbox {
    fn new(shards: usize) -> Outbox {
        Outbox {
            per_shard: (0..shards).map(|_| Deliveries::default()).collect(),
            placed: vec![None; shards],
        }
    }

    /// Queues `payload` on `channel` for every receiver; returns how many.
    fn add(&mut self, registry: &PubSub, channel: &[u8], payload: &[u8]) -> usize {
        let receivers = registry.receivers(channel);
        self.placed.iter_mut().for_each(|p| *p = None);
        for d in &receivers {
            let (Some(shard), Some(placed)) = (
                self.per_shard.get_mut(d.to.shard),
                self.placed.get_mut(d.to.shard),
            ) else {
                continue;
            };
            let at = *placed.get_or_insert_with(|| {
                let at = shard.bytes.len();
                shard.bytes.extend_from_slice(channel);
                shard.bytes.extend_from_slice(payload);
                at
            });
            shard.items.push(Item {
                client: d.to.id,
                pattern: d.pattern.cloned(),
                at,
                channel_len: channel.len(),
                payload_len: payload.len(),
            });
        }
        receivers.len()
    }

    fn send(self, srv: &super::Server) {
        let handles = srv.shard_handles();
        for (shard, deliveries) in self.per_shard.into_iter().enumerate() {
            if deliveries.is_empty() {
                continue;
            }
            if let Some(handle) = handles.get(shard) {
                handle.send(super::ShardMsg::Deliver(deliveries));
            }
        }
    }
}

fn add(map: &mut HashMap<Arc<[u8]>, Vec<Subscriber>>, key: &[u8], sub: Subscriber) {
    let subs = map.entry_ref(key).or_default();
    if !subs.contains(&sub) {
        subs.push(sub);
    }
}

fn remove(map: &mut HashMap<Arc<[u8]>, Vec<Subscriber>>, key: &[u8], id: u64) {
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
                    pattern: Some(pattern),
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
            .map(|c| c.to_vec())
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
    /// `pubsubPublishMessage`); returns how many received it.
    pub fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        let mut out = Outbox::new(self.threads);
        let receivers = out.add(&self.pubsub.lock(), channel, message);
        out.send(self);
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
        let registry = self.pubsub.lock();
        if registry.channel_count() == 0 && registry.pattern_count() == 0 {
            return;
        }
        let mut out = Outbox::new(self.threads);
        let mut channel = Vec::new();
        for e in events {
            if flags & events::KEYSPACE != 0 {
                channel.clear();
                write!(channel, "__keyspace@{}__:", e.db).ok();
                channel.extend_from_slice(&e.key);
                out.add(&registry, &channel, e.name.as_bytes());
            }
            if flags & events::KEYEVENT != 0 {
                channel.clear();
                write!(channel, "__keyevent@{}__:{}", e.db, e.name).ok();
                out.add(&registry, &channel, &e.key);
            }
        }
        drop(registry);
        out.send(self);
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
            .map(|d| (d.to.id, d.pattern.map(|p| p.to_vec())))
            .collect();
        assert_eq!(got, vec![(1, None), (2, None), (2, Some(b"n*".to_vec()))]);
        ps.unsubscribe(b"news", 1);
        ps.unsubscribe(b"news", 2);
        ps.punsubscribe(b"n*", 2);
        assert_eq!((ps.channel_count(), ps.pattern_count()), (0, 0));
        assert!(ps.receivers(b"news").is_empty());
    }

    /// A command's messages reach each shard in one batch, in order, each
    /// message stored once however many of that shard's clients get it.
    #[test]
    fn outbox_batches_per_shard_in_order() {
        let mut ps = PubSub::default();
        ps.subscribe(b"a", Subscriber { id: 1, shard: 0 });
        ps.psubscribe(b"*", Subscriber { id: 2, shard: 0 });
        ps.psubscribe(b"b*", Subscriber { id: 3, shard: 1 });
        let mut out = Outbox::new(2);
        assert_eq!(out.add(&ps, b"a", b"one"), 2);
        assert_eq!(out.add(&ps, b"bee", b"two"), 2);
        assert_eq!(out.add(&ps, b"nobody-but-star", b""), 1);
        type Owned = (u64, Option<Vec<u8>>, Vec<u8>, Vec<u8>);
        let got = |d: &Deliveries| -> Vec<Owned> {
            d.iter()
                .map(|(id, p, c, m)| (id, p.map(<[u8]>::to_vec), c.to_vec(), m.to_vec()))
                .collect()
        };
        let v = |s: &str| s.as_bytes().to_vec();
        assert_eq!(
            got(&out.per_shard[0]),
            vec![
                (1, None, v("a"), v("one")),
                (2, Some(v("*")), v("a"), v("one")),
                (2, Some(v("*")), v("bee"), v("two")),
                (2, Some(v("*")), v("nobody-but-star"), v("")),
            ]
        );
        assert_eq!(out.per_shard[0].bytes, b"aonebeetwonobody-but-star");
        assert_eq!(
            got(&out.per_shard[1]),
            vec![(3, Some(v("b*")), v("bee"), v("two"))]
        );
    }
}
