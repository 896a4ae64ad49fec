//! One client connection's IO state on its shard.
//!
//! ```text
//!   recv CQE bytes -> inbuf -> RequestParser -> Argv -> cmd::dispatch
//!                                                          |
//!   send SQE <- sending (owned by the kernel while in flight) <- out (ReplyBuf)
//! ```
//!
//! The byte path is plain buffers on both sides of the parser, so a TLS
//! session (rustls, sans-IO) can later sit between the ring's buffers and
//! `inbuf`/`sending` without changing the parser or the commands.
//!
//! Invariant: `sending` is never touched while `send_inflight`; the slot is
//! freed only when neither a receive nor a send is in flight.

use crate::cmd::{self, Client, ReplyMode};
use crate::config::OutputBufferLimit;
use crate::protocol::{Argv, Limits, Parsed, ReplyBuf, RequestParser};
use crate::server::Server;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;

pub struct Conn {
    pub fd: RawFd,
    pub gen: u32,
    pub inbuf: Vec<u8>,
    parser: RequestParser,
    argv: Argv,
    pub out: ReplyBuf,
    /// Bytes handed to the kernel; `sent` of them are done.
    pub sending: Vec<u8>,
    pub sent: usize,
    pub send_inflight: bool,
    pub recv_armed: bool,
    /// An AsyncCancel of the receive is in flight (handing the socket over).
    pub cancel_sent: bool,
    /// Receive buffer for the plain (non buffer-ring) path.
    pub recv_buf: Option<Box<[u8]>>,
    pub closing: bool,
    /// When (unix seconds) the pending output last went over its class's
    /// soft limit and has stayed there; 0 while under it.
    pub obuf_soft_since: u64,
    pub client: Client,
}

/// Per-shard copies of config limits, refreshed when `config_gen` moves.
#[derive(Clone, Copy)]
pub struct ConnLimits {
    pub proto_max_bulk_len: u64,
    pub query_buffer_limit: u64,
    pub auth_required: bool,
    /// `client-output-buffer-limit` of the normal and pubsub classes.
    pub output_limits: [OutputBufferLimit; 2],
}

impl Conn {
    pub fn new(fd: RawFd, gen: u32, client: Client) -> Conn {
        Conn {
            fd,
            gen,
            inbuf: Vec::new(),
            parser: RequestParser::new(),
            argv: Argv::new(),
            out: ReplyBuf {
                buf: Vec::new(),
                resp3: false,
            },
            sending: Vec::new(),
            sent: 0,
            send_inflight: false,
            recv_armed: false,
            cancel_sent: false,
            recv_buf: None,
            closing: false,
            obuf_soft_since: 0,
            client,
        }
    }

    /// networking.c `checkClientOutputBufferLimits`: whether the output
    /// waiting for this client (queued and in the kernel's hands) is at its
    /// class's hard limit, or has stayed at the soft limit for longer than
    /// its seconds. A client with subscriptions is of the pubsub class.
    /// `now_s` (unix seconds) is read only past the soft limit.
    pub fn over_output_limit(&mut self, limits: &ConnLimits, now_s: impl FnOnce() -> u64) -> bool {
        let pending = self.out.buf.len() + self.sending.len().saturating_sub(self.sent);
        let pending = pending as u64;
        let pubsub = self.client.subscription_count() > 0;
        let class = limits.output_limits[usize::from(pubsub)];
        if class.hard > 0 && pending >= class.hard {
            return true;
        }
        if class.soft == 0 || pending < class.soft {
            self.obuf_soft_since = 0;
            return false;
        }
        let now_s = now_s();
        if self.obuf_soft_since == 0 {
            self.obuf_soft_since = now_s;
            return false;
        }
        now_s.saturating_sub(self.obuf_soft_since) > class.soft_seconds
    }

    /// Parses and runs every complete request in `inbuf`.
    pub fn process_input(&mut self, srv: &Server, shard: usize, limits: &ConnLimits) {
        let mut pos = 0;
        // A blocked client reads on but runs nothing until it is served.
        while pos < self.inbuf.len()
            && !self.client.close_after_reply
            && !self.closing
            && self.client.blocked.is_none()
        {
            let parse_limits = Limits {
                proto_max_bulk_len: limits.proto_max_bulk_len,
                authenticated: self.client.authenticated || !limits.auth_required,
            };
            match self
                .parser
                .parse(&self.inbuf[pos..], &parse_limits, &mut self.argv)
            {
                Ok(Parsed::Complete { consumed }) => {
                    pos += consumed;
                    if !self.argv.is_empty() {
                        // The next pipelined command's stripe line (its
                        // lock and db 0's table header) loads while this
                        // one runs.
                        if let Some(key) = crate::protocol::peek_second_arg(&self.inbuf[pos..]) {
                            srv.keyspace.prefetch_stripe(crate::store::stripe_of(key));
                        }
                        self.execute(srv, shard);
                    }
                    self.argv.clear();
                }
                Ok(Parsed::Incomplete { consumed }) => {
                    pos += consumed;
                    if consumed == 0 {
                        break;
                    }
                }
                Err(err) => {
                    crate::verbose!(
                        "Protocol error ({}) from client: id={} addr={}",
                        err.0,
                        self.client.id,
                        self.client.meta.addr
                    );
                    err.write_reply(&mut self.out);
                    self.client.close_after_reply = true;
                    break;
                }
            }
        }
        self.inbuf.drain(..pos);
        let pending = self.inbuf.len() + self.argv.data_len();
        if pending as u64 > limits.query_buffer_limit {
            crate::warning!(
                "Closing client that reached max query buffer length: id={} addr={} (qbuf initial bytes: {:?})",
                self.client.id,
                self.client.meta.addr,
                String::from_utf8_lossy(&self.inbuf[..self.inbuf.len().min(64)])
            );
            self.closing = true;
        }
        self.client
            .meta
            .qbuf
            .store(self.inbuf.len(), Ordering::Relaxed);
        self.client
            .meta
            .last_interaction_ms
            .store(srv.now_ms(), Ordering::Relaxed);
    }

    /// Runs `argv` again for a blocked client handed back by the command that
    /// could not serve it (see `cmd::blocking`), then any pipelined input.
    pub fn rerun(&mut self, srv: &Server, shard: usize, limits: &ConnLimits, argv: Argv) {
        self.argv = argv;
        self.execute(srv, shard);
        self.argv.clear();
        self.process_input(srv, shard, limits);
    }

    /// Ends a block with `reply` (served or timed out), then runs what the
    /// client pipelined meanwhile.
    pub fn unblock(&mut self, srv: &Server, shard: usize, limits: &ConnLimits, reply: &[u8]) {
        self.client.blocked = None;
        self.client.meta.blocked.store(false, Ordering::Relaxed);
        self.client.meta.waiter.lock().take();
        // CLIENT REPLY OFF holds for a reply that comes later too
        // (networking.c `prepareClientToWrite`); SKIP applied to the
        // blocking command's own turn and is over.
        if self.client.reply_mode != ReplyMode::Off {
            self.out.buf.extend_from_slice(reply);
        }
        self.process_input(srv, shard, limits);
    }

    /// Runs one request, applying CLIENT REPLY suppression (networking.c
    /// `prepareClientToWrite`: OFF and SKIP drop replies).
    fn execute(&mut self, srv: &Server, shard: usize) {
        if self.client.reply_mode == ReplyMode::SkipNext {
            self.client.reply_mode = ReplyMode::Skip;
        }
        let before = self.out.buf.len();
        let meta = &self.client.meta;
        let found = cmd::lookup(self.argv.get(0));
        if let Some(c) = found {
            meta.last_cmd.store(c.id() + 1, Ordering::Relaxed);
            if c.flags & cmd::flags::CONTAINER != 0 && self.argv.len() > 1 {
                *meta.last_sub.lock() =
                    String::from_utf8_lossy(self.argv.get(1)).to_ascii_lowercase();
            }
        }
        cmd::dispatch_found(
            srv,
            shard,
            &mut self.client,
            &mut self.out,
            &self.argv,
            found,
        );
        if self.out.buf.get(before) == Some(&b'-') {
            srv.count_error(shard, &self.out.buf[before..]);
        }
        match self.client.reply_mode {
            ReplyMode::Off => self.out.buf.truncate(before),
            ReplyMode::Skip => {
                self.out.buf.truncate(before);
                self.client.reply_mode = ReplyMode::On;
            }
            ReplyMode::On | ReplyMode::SkipNext => {}
        }
        let meta = &self.client.meta;
        meta.db.store(self.client.db, Ordering::Relaxed);
        meta.in_multi
            .store(self.client.multi.is_some(), Ordering::Relaxed);
        meta.multi_len.store(
            self.client.multi.as_ref().map_or(0, |m| m.queued.len()),
            Ordering::Relaxed,
        );
    }

    /// True when there are reply bytes and no send in flight.
    pub fn wants_send(&self) -> bool {
        !self.send_inflight && (self.sent < self.sending.len() || !self.out.buf.is_empty())
    }

    /// Moves pending replies into `sending` and returns the bytes to send.
    pub fn next_send(&mut self) -> &[u8] {
        debug_assert!(!self.send_inflight);
        if self.sent >= self.sending.len() {
            self.sending.clear();
            self.sent = 0;
            std::mem::swap(&mut self.sending, &mut self.out.buf);
        }
        &self.sending[self.sent..]
    }

    /// Nothing left to write.
    pub fn drained(&self) -> bool {
        !self.send_inflight && self.sent >= self.sending.len() && self.out.buf.is_empty()
    }
}
