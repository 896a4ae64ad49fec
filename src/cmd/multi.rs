//! MULTI, EXEC, DISCARD, WATCH, UNWATCH (multi.c).
//!
//! A transaction is queued on the client; EXEC locks every stripe its
//! commands and watched keys touch, in ascending order, checks the watches
//! and runs the queue while holding them, so it is atomic across stripes
//! and shard threads.

use super::{exec_queued, Client, Ctx, Multi, Watched};
use crate::protocol::Argv;
use crate::server::Server;
use crate::store::{stripe_of, Keys, Watch};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub fn multi(ctx: &mut Ctx, _argv: &Argv) {
    if ctx.client.multi.is_some() {
        ctx.out.error("ERR MULTI calls can not be nested");
        return;
    }
    ctx.client.multi = Some(Multi::default());
    ctx.out.ok();
}

pub fn exec(ctx: &mut Ctx, _argv: &Argv) {
    let Some(multi) = ctx.client.multi.take() else {
        ctx.out.error("ERR EXEC without MULTI");
        return;
    };
    if multi.aborted {
        unwatch_all(ctx.srv, ctx.client);
        ctx.out
            .error("EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    exec_queued(ctx, multi.queued);
    unwatch_all(ctx.srv, ctx.client);
}

pub fn discard(ctx: &mut Ctx, _argv: &Argv) {
    if ctx.client.multi.take().is_none() {
        ctx.out.error("ERR DISCARD without MULTI");
        return;
    }
    unwatch_all(ctx.srv, ctx.client);
    ctx.out.ok();
}

pub fn watch(ctx: &mut Ctx, argv: &Argv) {
    if ctx.client.multi.is_some() {
        ctx.out.error("ERR WATCH inside MULTI is not allowed");
        return;
    }
    let db = ctx.client.db;
    for key in argv.iter().skip(1) {
        if ctx
            .client
            .watched
            .iter()
            .any(|w| w.db == db && *w.key == *key)
        {
            continue;
        }
        let now = ctx.ks.now_ms;
        let expired_at_watch = ctx.ks.locked.read_for(key).dbs[db]
            .map
            .get(key)
            .is_some_and(|e| e.is_expired(now));
        let dirty = Arc::clone(&ctx.client.watch_dirty);
        ctx.ks.locked.watchers_for(key).push(Watch {
            db,
            key: key.into(),
            dirty,
        });
        ctx.client.watched.push(Watched {
            db,
            key: key.into(),
            expired_at_watch,
        });
    }
    ctx.out.ok();
}

pub fn unwatch(ctx: &mut Ctx, _argv: &Argv) {
    // Inside EXEC the stripes are held, and EXEC unwatches everything right
    // after the queue runs anyway.
    if !ctx.client.in_exec {
        unwatch_all(ctx.srv, ctx.client);
    }
    ctx.out.ok();
}

/// Drops all of `client`'s watches (multi.c `unwatchAllKeys`). Takes stripe
/// locks itself: call it only while holding none.
pub fn unwatch_all(srv: &Server, client: &mut Client) {
    for w in &client.watched {
        srv.keyspace
            .lock(stripe_of(&w.key))
            .watchers
            .retain(|x| !Arc::ptr_eq(&x.dirty, &client.watch_dirty));
    }
    client.watched.clear();
    client.watch_dirty.store(false, Ordering::Release);
}

/// True when EXEC must fail: a watched key was modified, or has expired
/// since it was watched (multi.c `isWatchedKeyExpired`). The stripes of
/// all watched keys are held by `ks`.
pub fn watched_keys_changed(client: &Client, ks: &mut Keys) -> bool {
    if client.watch_dirty.load(Ordering::Acquire) {
        return true;
    }
    let now = ks.now_ms;
    client
        .watched
        .iter()
        .filter(|w| !w.expired_at_watch)
        .any(|w| {
            ks.locked.read_for(&w.key).dbs[w.db]
                .map
                .get(&w.key)
                .is_some_and(|e| e.is_expired(now))
        })
}
