//! Pub/sub commands (pubsub.c): SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE
//! PUNSUBSCRIBE PUBLISH PUBSUB. Subscriptions live in the server-wide
//! registry (`server::pubsub`) and on the client; messages travel to the
//! subscriber's shard, which writes them in the client's protocol.

use super::{command_table, eq_ic, flags::*, unknown_subcommand, Client, Ctx};
use crate::protocol::{Argv, ReplyBuf};
use crate::server::pubsub::Subscriber;
use std::sync::atomic::Ordering;

command_table! {
    pub static TABLE;
    "subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), "@pubsub @slow", subscribe;
    "unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), "@pubsub @slow", unsubscribe;
    "psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), "@pubsub @slow", psubscribe;
    "punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), "@pubsub @slow", punsubscribe;
    "publish", 3, PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, (0, 0, 0), "@pubsub @fast", publish;
    "pubsub", -2, CONTAINER | PUBSUB | LOADING | STALE, (0, 0, 0), "@pubsub @slow", pubsub;
}

/// Commands a RESP2 client may run while subscribed (server.c
/// `processCommand`).
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "ping" | "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "quit" | "reset"
    )
}

fn me(ctx: &Ctx) -> Subscriber {
    Subscriber {
        id: ctx.client.id,
        shard: ctx.client.meta.shard,
    }
}

fn confirm(out: &mut ReplyBuf, kind: &[u8], name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(kind);
    match name {
        Some(name) => out.bulk(name),
        None => out.null(),
    }
    out.int(count as i64);
}

fn publish_counts(client: &Client) {
    client
        .meta
        .sub
        .store(client.channels.len(), Ordering::Relaxed);
    client
        .meta
        .psub
        .store(client.patterns.len(), Ordering::Relaxed);
}

/// Channel or pattern subscriptions: the same commands over two sets.
#[derive(Clone, Copy)]
enum Kind {
    Channel,
    Pattern,
}

impl Kind {
    fn set(self, client: &mut Client) -> &mut hashbrown::HashSet<Vec<u8>> {
        match self {
            Kind::Channel => &mut client.channels,
            Kind::Pattern => &mut client.patterns,
        }
    }

    fn words(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Kind::Channel => (b"subscribe", b"unsubscribe"),
            Kind::Pattern => (b"psubscribe", b"punsubscribe"),
        }
    }
}

fn subscribe_generic(ctx: &mut Ctx, argv: &Argv, kind: Kind) {
    let sub = me(ctx);
    for name in argv.iter().skip(1) {
        if kind.set(ctx.client).insert(name.to_vec()) {
            let mut registry = ctx.srv.pubsub.lock();
            match kind {
                Kind::Channel => registry.subscribe(name, sub),
                Kind::Pattern => registry.psubscribe(name, sub),
            }
        }
        let count = ctx.client.subscription_count();
        confirm(ctx.out, kind.words().0, Some(name), count);
    }
    publish_counts(ctx.client);
}

/// Without names, unsubscribes from all of `kind` (replying once with a nil
/// name when there were none, as Redis does).
fn unsubscribe_generic(ctx: &mut Ctx, argv: &Argv, kind: Kind) {
    let names: Vec<Vec<u8>> = if argv.len() > 1 {
        argv.iter().skip(1).map(<[u8]>::to_vec).collect()
    } else {
        kind.set(ctx.client).iter().cloned().collect()
    };
    let word = kind.words().1;
    if names.is_empty() {
        let count = ctx.client.subscription_count();
        confirm(ctx.out, word, None, count);
    }
    for name in names {
        if kind.set(ctx.client).remove(&name) {
            let mut registry = ctx.srv.pubsub.lock();
            match kind {
                Kind::Channel => registry.unsubscribe(&name, ctx.client.id),
                Kind::Pattern => registry.punsubscribe(&name, ctx.client.id),
            }
        }
        let count = ctx.client.subscription_count();
        confirm(ctx.out, word, Some(&name), count);
    }
    publish_counts(ctx.client);
}

pub fn subscribe(ctx: &mut Ctx, argv: &Argv) {
    subscribe_generic(ctx, argv, Kind::Channel);
}

pub fn psubscribe(ctx: &mut Ctx, argv: &Argv) {
    subscribe_generic(ctx, argv, Kind::Pattern);
}

pub fn unsubscribe(ctx: &mut Ctx, argv: &Argv) {
    unsubscribe_generic(ctx, argv, Kind::Channel);
}

pub fn punsubscribe(ctx: &mut Ctx, argv: &Argv) {
    unsubscribe_generic(ctx, argv, Kind::Pattern);
}

/// Drops every subscription of a client that goes away.
pub fn forget_client(srv: &crate::server::Server, client: &Client) {
    if client.channels.is_empty() && client.patterns.is_empty() {
        return;
    }
    let mut registry = srv.pubsub.lock();
    for channel in &client.channels {
        registry.unsubscribe(channel, client.id);
    }
    for pattern in &client.patterns {
        registry.punsubscribe(pattern, client.id);
    }
}

/// PUBLISH channel message: replies with the number of receivers.
pub fn publish(ctx: &mut Ctx, argv: &Argv) {
    let receivers = ctx.srv.publish(argv.get(1), argv.get(2));
    // PUBLISH reaches replicas' subscribers too (pubsub.c, non-cluster).
    ctx.force_propagation();
    ctx.out.int(receivers as i64);
}

/// Writes one delivered message in `out`'s protocol (`message` or
/// `pmessage` push).
pub fn write_message(out: &mut ReplyBuf, pattern: Option<&[u8]>, channel: &[u8], message: &[u8]) {
    match pattern {
        Some(pattern) => {
            out.push(4);
            out.bulk(b"pmessage");
            out.bulk(pattern);
        }
        None => {
            out.push(3);
            out.bulk(b"message");
        }
    }
    out.bulk(channel);
    out.bulk(message);
}

/// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | HELP
pub fn pubsub(ctx: &mut Ctx, argv: &Argv) {
    let sub = argv.get(1);
    if eq_ic(sub, "channels") && argv.len() <= 3 {
        let pattern = (argv.len() == 3).then(|| argv.get(2));
        let channels = ctx.srv.pubsub.lock().channels(pattern);
        ctx.out.array(channels.len());
        for channel in channels {
            ctx.out.bulk(&channel);
        }
    } else if eq_ic(sub, "numsub") {
        let registry = ctx.srv.pubsub.lock();
        ctx.out.array((argv.len() - 2) * 2);
        for channel in argv.iter().skip(2) {
            ctx.out.bulk(channel);
            ctx.out.int(registry.numsub(channel) as i64);
        }
    } else if eq_ic(sub, "numpat") && argv.len() == 2 {
        let n = ctx.srv.pubsub.lock().pattern_count();
        ctx.out.int(n as i64);
    } else if eq_ic(sub, "help") && argv.len() == 2 {
        let lines = [
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
            "HELP",
            "    Prints this help.",
        ];
        super::reply_help(ctx, &lines);
    } else {
        unknown_subcommand(ctx, "PUBSUB", sub);
    }
}
