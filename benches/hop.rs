//! Why sluice locks stripes instead of hopping commands between shards
//! (see src/lib.rs): the cost of reaching a key through an uncontended
//! stripe lock versus a request/reply round trip to another thread over a
//! crossbeam channel, with the peer busy-polling and with the peer parked.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::thread;

fn stripe_lock(c: &mut Criterion) {
    let stripes: Vec<parking_lot::Mutex<u64>> = (0..1024).map(parking_lot::Mutex::new).collect();
    let mut i = 0usize;
    c.bench_function("hop/stripe_lock_uncontended", |b| {
        b.iter(|| {
            i = (i + 7) & 1023;
            let mut guard = stripes[i].lock();
            *guard += 1;
            black_box(*guard)
        })
    });
}

fn channel_round_trip(c: &mut Criterion, name: &str, peer_parks: bool) {
    let (req_tx, req_rx) = crossbeam_channel::unbounded::<u64>();
    let (rep_tx, rep_rx) = crossbeam_channel::unbounded::<u64>();
    let peer = thread::spawn(move || loop {
        let got = if peer_parks {
            req_rx.recv().ok()
        } else {
            loop {
                match req_rx.try_recv() {
                    Ok(v) => break Some(v),
                    Err(crossbeam_channel::TryRecvError::Empty) => std::hint::spin_loop(),
                    Err(_) => break None,
                }
            }
        };
        match got {
            Some(v) => {
                let _ = rep_tx.send(v + 1);
            }
            None => return,
        }
    });
    c.bench_function(name, |b| {
        b.iter(|| {
            req_tx.send(black_box(1)).unwrap();
            black_box(rep_rx.recv().unwrap())
        })
    });
    drop(req_tx);
    let _ = peer.join();
}

fn hops(c: &mut Criterion) {
    channel_round_trip(c, "hop/channel_round_trip_spinning_peer", false);
    channel_round_trip(c, "hop/channel_round_trip_parking_peer", true);
}

criterion_group!(benches, stripe_lock, hops);
criterion_main!(benches);
