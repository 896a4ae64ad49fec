//! The replica's side of the link to a master, sans-IO: the handshake
//! (replication.c `syncWithMaster`) and the full-sync payload framing
//! (`readSyncBulkPayload`), byte for byte as the reference doc's sections 1
//! and 2 describe them. Bytes in, events and bytes to send out; the caller
//! owns the socket, the timeouts and the retries.
//!
//! ```text
//!   new()            -> PING
//!   +PONG / -NOAUTH  -> [AUTH] REPLCONF listening-port [REPLCONF ip-address]
//!                       REPLCONF capa eof capa psync2   (one burst)
//!   their replies    -> PSYNC <replid> <offset+1> | PSYNC ? -1
//!                       (only after every reply: PSYNC behind pending
//!                       output is refused by the master)
//!   +FULLRESYNC id n -> Event::FullResync; feed the rest to SyncPayload
//!   +CONTINUE [id]   -> Event::Continue; the rest is the command stream
//! ```
//!
//! Empty lines are the master's keepalives at every step.

use crate::protocol::encode_command;

/// What the replica announces and what it may continue from.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// `masteruser`, sent with `masterauth` as `AUTH user pass`.
    pub masteruser: Option<Vec<u8>>,
    /// `masterauth`; no AUTH is sent without it.
    pub masterauth: Option<Vec<u8>>,
    /// `replica-announce-port`, else the replica's own port.
    pub listening_port: u16,
    /// `replica-announce-ip`, sent only when set.
    pub announce_ip: Option<String>,
    /// The cached master: its replication ID and the offset of the last
    /// byte applied (PSYNC asks for the next one).
    pub cached: Option<(String, u64)>,
    /// A coordinated failover (FAILOVER): `PSYNC <replid> <offset> FAILOVER`
    /// asks the replica to become our master.
    pub failover: bool,
}

/// A step the caller acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Bytes to write to the master.
    Send(Vec<u8>),
    /// A full sync begins: the payload follows ([`SyncPayload`]); the
    /// RDB holds the dataset at `offset`.
    FullResync { replid: String, offset: u64 },
    /// The master continues the stream after the cached offset; `replid`
    /// is the master's new ID when it announced one that differs.
    Continue { replid: Option<String> },
}

/// Why the attempt ended. `retry`: a transient refusal (the master is
/// loading, or has no link itself): reconnect later with the same state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub retry: bool,
}

fn fail(reason: impl Into<String>, retry: bool) -> Failure {
    Failure {
        reason: reason.into(),
        retry,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    PingReply,
    /// Replies still due to the burst; `auth` while the first is AUTH's.
    BurstReplies {
        remaining: usize,
        auth: bool,
    },
    PsyncReply,
    Done,
}

/// The handshake in progress.
pub struct Handshake {
    config: Config,
    state: State,
}

/// Longest reply line the handshake accepts (Redis reads them into a
/// 256-byte buffer; a PSYNC reply is about 60 bytes).
const MAX_LINE: usize = 1024;

/// The next `\n`-terminated line of `input` from `*used` (its `\r`
/// dropped), advancing `*used` past it; `None` when it is not complete
/// yet, and `too_long` as the failure when an incomplete one passes
/// [`MAX_LINE`] (Redis reads these lines into a fixed buffer).
fn take_line<'a>(
    input: &'a [u8],
    used: &mut usize,
    too_long: &str,
) -> Result<Option<&'a [u8]>, Failure> {
    let rest = &input[*used..];
    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
        if rest.len() > MAX_LINE {
            return Err(fail(too_long, false));
        }
        return Ok(None);
    };
    *used += end + 1;
    let line = &rest[..end];
    Ok(Some(line.strip_suffix(b"\r").unwrap_or(line)))
}

impl Handshake {
    /// Starts a handshake; the returned bytes (PING) go to the master first.
    pub fn new(config: Config) -> (Handshake, Vec<u8>) {
        let handshake = Handshake {
            config,
            state: State::PingReply,
        };
        (handshake, encode_command(&[b"PING"]))
    }

    /// Consumes whole reply lines from `input` and returns the events, with
    /// how many bytes were consumed. After `FullResync` or `Continue` it
    /// consumes nothing more: the rest belongs to the payload or stream.
    pub fn feed(&mut self, input: &[u8]) -> Result<(Vec<Event>, usize), Failure> {
        let mut events = Vec::new();
        let mut used = 0;
        while self.state != State::Done {
            let Some(line) = take_line(input, &mut used, "reply line from the master too long")?
            else {
                break;
            };
            if line.is_empty() {
                continue; // keepalive
            }
            self.on_line(line, &mut events)?;
        }
        Ok((events, used))
    }

    fn on_line(&mut self, line: &[u8], events: &mut Vec<Event>) -> Result<(), Failure> {
        let text = String::from_utf8_lossy(line);
        match self.state {
            State::PingReply => {
                let accepted = line.starts_with(b"+")
                    || line.starts_with(b"-NOAUTH")
                    || line.starts_with(b"-NOPERM")
                    || line.starts_with(b"-ERR operation not permitted");
                if !accepted {
                    return Err(fail(
                        format!("Error reply to PING from master: '{text}'"),
                        false,
                    ));
                }
                let (burst, replies, auth) = self.burst();
                events.push(Event::Send(burst));
                self.state = State::BurstReplies {
                    remaining: replies,
                    auth,
                };
            }
            State::BurstReplies { remaining, auth } => {
                if auth && line.starts_with(b"-") {
                    return Err(fail(format!("Unable to AUTH to MASTER: {text}"), false));
                }
                // Errors to REPLCONF are not critical (an older master).
                if remaining > 1 {
                    self.state = State::BurstReplies {
                        remaining: remaining - 1,
                        auth: false,
                    };
                } else {
                    events.push(Event::Send(self.psync()));
                    self.state = State::PsyncReply;
                }
            }
            State::PsyncReply => {
                let event = psync_reply(&text)?;
                events.push(event);
                self.state = State::Done;
            }
            State::Done => {}
        }
        Ok(())
    }

    /// The pipelined burst after PING, with the number of replies due.
    fn burst(&self) -> (Vec<u8>, usize, bool) {
        let c = &self.config;
        let mut out = Vec::new();
        let mut replies = 0;
        let auth = c.masterauth.is_some();
        if let Some(pass) = &c.masterauth {
            match &c.masteruser {
                Some(user) => out.extend(encode_command(&[b"AUTH", user, pass])),
                None => out.extend(encode_command(&[b"AUTH", pass])),
            }
            replies += 1;
        }
        let port = c.listening_port.to_string();
        out.extend(encode_command(&[
            b"REPLCONF",
            b"listening-port",
            port.as_bytes(),
        ]));
        replies += 1;
        if let Some(ip) = &c.announce_ip {
            out.extend(encode_command(&[b"REPLCONF", b"ip-address", ip.as_bytes()]));
            replies += 1;
        }
        out.extend(encode_command(&[
            b"REPLCONF",
            b"capa",
            b"eof",
            b"capa",
            b"psync2",
        ]));
        replies += 1;
        (out, replies, auth)
    }

    fn psync(&self) -> Vec<u8> {
        match &self.config.cached {
            Some((replid, offset)) => {
                let next = offset.saturating_add(1).to_string();
                if self.config.failover {
                    encode_command(&[b"PSYNC", replid.as_bytes(), next.as_bytes(), b"FAILOVER"])
                } else {
                    encode_command(&[b"PSYNC", replid.as_bytes(), next.as_bytes()])
                }
            }
            None => encode_command(&[b"PSYNC", b"?", b"-1"]),
        }
    }
}

/// Parses the reply to PSYNC.
fn psync_reply(text: &str) -> Result<Event, Failure> {
    if let Some(rest) = text.strip_prefix("+FULLRESYNC") {
        let mut words = rest.split_whitespace();
        let (Some(replid), Some(offset)) = (words.next(), words.next()) else {
            return Err(fail(format!("Bad +FULLRESYNC reply: '{text}'"), false));
        };
        let Ok(offset) = offset.parse::<u64>() else {
            return Err(fail(format!("Bad +FULLRESYNC offset: '{text}'"), false));
        };
        // Redis zeroes a replid of the wrong length (the next PSYNC then
        // cannot continue); refusing it is the same outcome, said clearly.
        if replid.len() != 40 {
            return Err(fail(format!("Bad replication ID in '{text}'"), false));
        }
        return Ok(Event::FullResync {
            replid: replid.to_string(),
            offset,
        });
    }
    if let Some(rest) = text.strip_prefix("+CONTINUE") {
        let replid = rest
            .split_whitespace()
            .next()
            .filter(|id| id.len() == 40)
            .map(str::to_string);
        return Ok(Event::Continue { replid });
    }
    if text.starts_with("-NOMASTERLINK") || text.starts_with("-LOADING") {
        return Err(fail(
            format!("Master is currently unable to PSYNC: {text}"),
            true,
        ));
    }
    // Redis falls back to the pre-PSYNC `SYNC`; every master sluice meets
    // (Redis 2.8+, Valkey, sluice) speaks PSYNC, so this is an error.
    Err(fail(
        format!("Unexpected reply to PSYNC from master: {text}"),
        false,
    ))
}

/// `REPLCONF ACK <offset>`, the replica's acknowledgement.
pub fn ack(offset: u64) -> Vec<u8> {
    let offset = offset.to_string();
    encode_command(&[b"REPLCONF", b"ACK", offset.as_bytes()])
}

/// Length of the end mark of a diskless payload.
pub const MARK_LEN: usize = 40;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Framing {
    /// Waiting for the `$...` line.
    Header,
    /// `$<n>`: `left` of the `size` RDB bytes still to come.
    Sized {
        size: u64,
        left: u64,
    },
    /// `$EOF:<mark>`: the RDB ends where the mark is; the last MARK_LEN
    /// bytes received are held back until more come or they are the mark.
    Marked {
        mark: [u8; MARK_LEN],
        held: Vec<u8>,
    },
    Done,
}

/// The full-sync payload after `+FULLRESYNC`: `$<size>\r\n<size bytes>` or
/// `$EOF:<40 chars>\r\n<rdb><the 40 chars>`, keepalive newlines before the
/// `$` line. Yields the RDB bytes; whatever follows is the command stream.
pub struct SyncPayload {
    framing: Framing,
    /// Bytes consumed after the `$` line (the EOF mark included), as
    /// Redis's `repl_transfer_read`.
    read: u64,
    /// [`SyncPayload::pass`] was called: `held` bytes were passed on.
    passing: bool,
}

impl Default for SyncPayload {
    fn default() -> Self {
        SyncPayload::new()
    }
}

impl SyncPayload {
    pub fn new() -> SyncPayload {
        SyncPayload {
            framing: Framing::Header,
            read: 0,
            passing: false,
        }
    }

    /// True once the whole RDB has been passed on.
    pub fn is_done(&self) -> bool {
        self.framing == Framing::Done
    }

    /// True for the diskless (`$EOF:`) framing, after which the master
    /// waits for an ACK before it streams commands.
    pub fn is_marked(&self) -> bool {
        matches!(self.framing, Framing::Marked { .. })
    }

    /// The payload's size once its `$` line came, as Redis's
    /// `repl_transfer_size`: `$<n>`'s n, 0 for the EOF-marked framing
    /// (unknown); None before the line and once the payload is done.
    pub fn announced_size(&self) -> Option<u64> {
        match self.framing {
            Framing::Sized { size, .. } => Some(size),
            Framing::Marked { .. } => Some(0),
            _ => None,
        }
    }

    /// Bytes consumed after the `$` line, the EOF mark included.
    pub fn read(&self) -> u64 {
        self.read
    }

    /// Whether [`SyncPayload::begin_pass`] switched to pass-through.
    pub fn is_passing(&self) -> bool {
        self.passing
    }

    /// Switches to pass-through mode, for a sink that receives the payload
    /// in place and stops at the RDB's own end (a live load): bytes that
    /// [`feed`] held back for the EOF mark go to `emit` now, before the
    /// sink receives more. Only after the `$` line (see
    /// [`announced_size`]); then only [`pass`].
    ///
    /// [`feed`]: SyncPayload::feed
    /// [`pass`]: SyncPayload::pass
    /// [`announced_size`]: SyncPayload::announced_size
    pub fn begin_pass<E: From<Failure>>(
        &mut self,
        emit: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        match &self.framing {
            Framing::Header => Err(fail("the payload's framing is not known yet", false).into()),
            Framing::Marked { held, .. } if !self.passing && !held.is_empty() => {
                self.passing = true;
                emit(held)
            }
            _ => {
                self.passing = true;
                Ok(())
            }
        }
    }

    /// Pass-through mode (after [`begin_pass`]): `input`, the next bytes
    /// off the link, is already in the sink; returns how many belong to
    /// the payload, the EOF mark included (it follows the RDB's EOF opcode
    /// and checksum, where such a sink has stopped reading); the rest,
    /// once [`is_done`], is the stream.
    ///
    /// [`begin_pass`]: SyncPayload::begin_pass
    /// [`is_done`]: SyncPayload::is_done
    pub fn pass(&mut self, input: &[u8]) -> usize {
        debug_assert!(self.passing);
        let taken = match &mut self.framing {
            Framing::Header | Framing::Done => 0,
            Framing::Sized { left, .. } => {
                let take = (*left).min(input.len() as u64) as usize;
                *left -= take as u64;
                if *left == 0 {
                    self.framing = Framing::Done;
                }
                take
            }
            Framing::Marked { mark, held } => {
                // `held` now keeps the last MARK_LEN bytes seen, already
                // passed on, to spot the mark.
                if input.len() >= MARK_LEN {
                    held.clear();
                    held.extend_from_slice(&input[input.len() - MARK_LEN..]);
                } else {
                    held.extend_from_slice(input);
                    held.drain(..held.len().saturating_sub(MARK_LEN));
                }
                if held[..] == mark[..] {
                    self.framing = Framing::Done;
                }
                input.len()
            }
        };
        self.read += taken as u64;
        taken
    }

    /// Consumes payload bytes from `input`, passing RDB bytes to `emit` as
    /// slices of `input` where it can (a payload of 1 GiB is not copied
    /// here: only the last MARK_LEN bytes of each input wait in `held`).
    /// Returns how many input bytes were consumed; once [`is_done`], the
    /// unconsumed rest is the command stream. `emit`'s error stops it.
    ///
    /// [`is_done`]: SyncPayload::is_done
    pub fn feed<E: From<Failure>>(
        &mut self,
        input: &[u8],
        emit: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut used = 0;
        loop {
            match &mut self.framing {
                Framing::Done => return Ok(used),
                Framing::Header => {
                    let Some(line) = take_line(
                        input,
                        &mut used,
                        "Bad protocol from MASTER: header too long",
                    )?
                    else {
                        return Ok(used);
                    };
                    self.framing = header(line)?;
                }
                Framing::Sized { left, .. } => {
                    let take = (*left).min((input.len() - used) as u64) as usize;
                    let bytes = &input[used..used + take];
                    used += take;
                    self.read += take as u64;
                    *left -= take as u64;
                    if *left == 0 {
                        self.framing = Framing::Done;
                    }
                    if !bytes.is_empty() {
                        emit(bytes)?;
                    }
                    if !self.is_done() {
                        return Ok(used);
                    }
                }
                Framing::Marked { mark, held } => {
                    // As Redis: the payload ends when the last 40 bytes
                    // received are the mark (the master sends nothing
                    // after it until the replica's first ACK). `held` keeps
                    // the last MARK_LEN bytes seen.
                    let rest = &input[used..];
                    used = input.len();
                    self.read += rest.len() as u64;
                    if held.len() + rest.len() <= MARK_LEN {
                        held.extend_from_slice(rest);
                    } else if rest.len() >= MARK_LEN {
                        let pass = rest.len() - MARK_LEN;
                        if !held.is_empty() {
                            emit(held)?;
                        }
                        if pass > 0 {
                            emit(&rest[..pass])?;
                        }
                        held.clear();
                        held.extend_from_slice(&rest[pass..]);
                    } else {
                        // Shorter than the mark: some of `held` passes.
                        let pass = held.len() + rest.len() - MARK_LEN;
                        emit(&held[..pass])?;
                        held.drain(..pass);
                        held.extend_from_slice(rest);
                    }
                    if held[..] == mark[..] {
                        self.framing = Framing::Done;
                    }
                    return Ok(used);
                }
            }
        }
    }
}

/// The framing announced by the first non-empty payload line.
fn header(line: &[u8]) -> Result<Framing, Failure> {
    if line.is_empty() {
        return Ok(Framing::Header); // keepalive
    }
    let text = String::from_utf8_lossy(line);
    if line[0] == b'-' {
        return Err(fail(
            format!("MASTER aborted replication with an error: {text}"),
            false,
        ));
    }
    let Some(rest) = line.strip_prefix(b"$") else {
        return Err(fail(
            format!("Bad protocol from MASTER, the first byte is not '$' (we received '{text}'), are you sure the host and port are right?"),
            false,
        ));
    };
    if let Some(mark) = rest.strip_prefix(b"EOF:") {
        let Some(mark) = mark.get(..MARK_LEN) else {
            return Err(fail(format!("Bad EOF mark from MASTER: '{text}'"), false));
        };
        let mut m = [0u8; MARK_LEN];
        m.copy_from_slice(mark);
        return Ok(Framing::Marked {
            mark: m,
            held: Vec::with_capacity(MARK_LEN * 2),
        });
    }
    match std::str::from_utf8(rest)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(0) => Ok(Framing::Done),
        Some(size) => Ok(Framing::Sized { size, left: size }),
        None => Err(fail(
            format!("Bad payload size from MASTER: '{text}'"),
            false,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sends(events: &[Event]) -> Vec<u8> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Send(b) => Some(b.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn handshake_bytes_match_redis() {
        let (mut h, ping) = Handshake::new(Config {
            listening_port: 6380,
            ..Config::default()
        });
        assert_eq!(ping, b"*1\r\n$4\r\nPING\r\n");
        // Keepalives, then PONG: the burst.
        let (ev, used) = h.feed(b"\n\n+PONG\r\n").unwrap();
        assert_eq!(used, 9);
        assert_eq!(
            sends(&ev),
            b"*3\r\n$8\r\nREPLCONF\r\n$14\r\nlistening-port\r\n$4\r\n6380\r\n\
              *5\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$3\r\neof\r\n$4\r\ncapa\r\n$6\r\npsync2\r\n"
                .to_vec()
        );
        // PSYNC only after both replies, even when they come together.
        let (ev, _) = h.feed(b"+OK\r\n").unwrap();
        assert!(ev.is_empty());
        let (ev, _) = h
            .feed(b"-ERR Unrecognized REPLCONF option: capa\r\n")
            .unwrap();
        assert_eq!(
            sends(&ev),
            b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n".to_vec()
        );
        let id = "a".repeat(40);
        let reply = format!("+FULLRESYNC {id} 1234\r\n$EOF:");
        let (ev, used) = h.feed(reply.as_bytes()).unwrap();
        assert_eq!(
            ev,
            vec![Event::FullResync {
                replid: id,
                offset: 1234
            }]
        );
        assert_eq!(used, reply.len() - 5, "the payload is left alone");
    }

    #[test]
    fn failover_psync_names_it() {
        let (mut h, _) = Handshake::new(Config {
            cached: Some(("d".repeat(40), 9)),
            failover: true,
            ..Config::default()
        });
        let (ev, _) = h.feed(b"+PONG\r\n").unwrap();
        assert!(!sends(&ev).is_empty());
        let (ev, _) = h.feed(b"+OK\r\n+OK\r\n").unwrap();
        let psync = format!(
            "*4\r\n$5\r\nPSYNC\r\n$40\r\n{}\r\n$2\r\n10\r\n$8\r\nFAILOVER\r\n",
            "d".repeat(40)
        );
        assert_eq!(sends(&ev), psync.into_bytes());
    }

    #[test]
    fn auth_and_cached_master() {
        let (mut h, _) = Handshake::new(Config {
            masteruser: Some(b"repl".to_vec()),
            masterauth: Some(b"secret".to_vec()),
            listening_port: 7000,
            announce_ip: Some("10.0.0.9".into()),
            cached: Some(("b".repeat(40), 99)),
            failover: false,
        });
        let (ev, _) = h.feed(b"-NOAUTH Authentication required.\r\n").unwrap();
        let burst = String::from_utf8(sends(&ev)).unwrap();
        assert!(burst.starts_with("*3\r\n$4\r\nAUTH\r\n$4\r\nrepl\r\n$6\r\nsecret\r\n"));
        assert!(burst.contains("$10\r\nip-address\r\n$8\r\n10.0.0.9\r\n"));
        let (ev, _) = h.feed(b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n").unwrap();
        let psync = format!(
            "*3\r\n$5\r\nPSYNC\r\n$40\r\n{}\r\n$3\r\n100\r\n",
            "b".repeat(40)
        );
        assert_eq!(sends(&ev), psync.into_bytes());
        let (ev, _) = h
            .feed(format!("+CONTINUE {}\r\n", "c".repeat(40)).as_bytes())
            .unwrap();
        assert_eq!(
            ev,
            vec![Event::Continue {
                replid: Some("c".repeat(40))
            }]
        );
    }

    #[test]
    fn refusals() {
        let (mut h, _) = Handshake::new(Config::default());
        let err = h.feed(b"-ERR unknown command\r\n").unwrap_err();
        assert_eq!(
            err.reason,
            "Error reply to PING from master: '-ERR unknown command'"
        );
        let (mut h, _) = Handshake::new(Config {
            masterauth: Some(b"x".to_vec()),
            ..Config::default()
        });
        h.feed(b"+PONG\r\n").unwrap();
        let err = h
            .feed(b"-WRONGPASS invalid username-password pair\r\n")
            .unwrap_err();
        assert!(!err.retry && err.reason.starts_with("Unable to AUTH to MASTER"));
        let (mut h, _) = Handshake::new(Config::default());
        h.feed(b"+PONG\r\n+OK\r\n+OK\r\n").unwrap();
        let err = h
            .feed(b"-LOADING Redis is loading the dataset in memory\r\n")
            .unwrap_err();
        assert!(err.retry);
    }

    fn collect(rdb: &mut Vec<u8>) -> impl FnMut(&[u8]) -> Result<(), Failure> + '_ {
        |bytes| {
            rdb.extend_from_slice(bytes);
            Ok(())
        }
    }

    /// `payload` cut at `cuts` (taken modulo its length + 1, sorted).
    fn chunks<'a>(payload: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
        bounds.sort_unstable();
        bounds.push(payload.len());
        let mut at = 0;
        bounds
            .into_iter()
            .map(|b| {
                let chunk = &payload[at..b];
                at = b;
                chunk
            })
            .collect()
    }

    fn run(payload: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<u8>) {
        let mut p = SyncPayload::new();
        let mut rdb = Vec::new();
        let mut rest = Vec::new();
        let mut pending = Vec::new();
        for chunk in chunks(payload, cuts) {
            pending.extend_from_slice(chunk);
            if p.is_done() {
                rest.append(&mut pending);
                continue;
            }
            let used = p.feed(&pending, &mut collect(&mut rdb)).unwrap();
            pending.drain(..used);
            if p.is_done() {
                rest.append(&mut pending);
            }
        }
        assert!(p.is_done());
        (rdb, rest)
    }

    /// As `run`, switching to pass-through once the `$` line is parsed:
    /// each later chunk lands in the sink first, as a live load receives.
    fn run_pass(payload: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<u8>) {
        let mut p = SyncPayload::new();
        let mut sink = Vec::new();
        let mut rest = Vec::new();
        let mut pending = Vec::new();
        for chunk in chunks(payload, cuts) {
            if p.is_done() {
                rest.extend_from_slice(chunk);
                continue;
            }
            if p.is_passing() {
                sink.extend_from_slice(chunk);
                let n = p.pass(chunk);
                if p.is_done() {
                    sink.truncate(sink.len() - (chunk.len() - n));
                    rest.extend_from_slice(&chunk[n..]);
                }
                continue;
            }
            pending.extend_from_slice(chunk);
            let used = p.feed(&pending, &mut collect(&mut sink)).unwrap();
            pending.drain(..used);
            if p.is_done() {
                rest.append(&mut pending);
            } else if p.announced_size().is_some() {
                assert!(pending.is_empty());
                p.begin_pass(&mut collect(&mut sink)).unwrap();
            }
        }
        assert!(p.is_done());
        (sink, rest)
    }

    proptest! {
        /// However the bytes are cut, the RDB and the stream after it come
        /// out whole, in both framings, and in pass-through mode (where
        /// the EOF mark may go to the sink after the RDB).
        #[test]
        fn payload_survives_any_chunking(
            rdb in prop::collection::vec(any::<u8>(), 1..300),
            stream in prop::collection::vec(any::<u8>(), 0..50),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut sized = format!("\n\n${}\r\n", rdb.len()).into_bytes();
            sized.extend_from_slice(&rdb);
            sized.extend_from_slice(&stream);
            let (got, rest) = run(&sized, &cuts);
            prop_assert_eq!(&got, &rdb);
            prop_assert_eq!(&rest, &stream);
            let (got, rest) = run_pass(&sized, &cuts);
            prop_assert_eq!(&got, &rdb);
            prop_assert_eq!(&rest, &stream);

            let mark = "0123456789abcdef0123456789abcdef01234567";
            let mut marked = format!("\n$EOF:{mark}\r\n").into_bytes();
            marked.extend_from_slice(&rdb);
            marked.extend_from_slice(mark.as_bytes());
            let (got, rest) = run(&marked, &cuts);
            prop_assert_eq!(&got, &rdb);
            prop_assert!(rest.is_empty());
            let (got, rest) = run_pass(&marked, &cuts);
            prop_assert_eq!(&got[..rdb.len()], &rdb[..]);
            // (None when `feed` saw the whole payload before the switch.)
            let after = &got[rdb.len()..];
            prop_assert!(after.is_empty() || after == mark.as_bytes());
            prop_assert!(rest.is_empty());
        }
    }

    /// INFO's master_sync_total_bytes is the announced size, not what is
    /// left of it (it was, until 2026-12-04).
    #[test]
    fn announced_size_stays_the_total() {
        let mut p = SyncPayload::new();
        let mut rdb = Vec::new();
        p.feed(b"$10\r\n0123", &mut collect(&mut rdb)).unwrap();
        assert_eq!(p.announced_size(), Some(10));
        p.feed(b"45678", &mut collect(&mut rdb)).unwrap();
        assert_eq!(p.announced_size(), Some(10));
        assert_eq!(p.read(), 9);
        assert_eq!(rdb, b"012345678");
        assert!(!p.is_done());
        // EOF-marked: size 0 (unknown), every byte after the line counted.
        let mut p = SyncPayload::new();
        assert_eq!(p.announced_size(), None);
        let mark = "0123456789abcdef0123456789abcdef01234567";
        let line = format!("$EOF:{mark}\r\nrdb bytes");
        p.feed(line.as_bytes(), &mut collect(&mut rdb)).unwrap();
        assert_eq!((p.announced_size(), p.read()), (Some(0), 9));
    }

    #[test]
    fn payload_errors() {
        let mut rdb = Vec::new();
        let err = SyncPayload::new()
            .feed(b"-ERR no\r\n", &mut collect(&mut rdb))
            .unwrap_err();
        assert_eq!(
            err.reason,
            "MASTER aborted replication with an error: -ERR no"
        );
        let err = SyncPayload::new()
            .feed(b"+what\r\n", &mut collect(&mut rdb))
            .unwrap_err();
        assert!(err.reason.starts_with("Bad protocol from MASTER"));
        let err = SyncPayload::new()
            .feed(b"$EOF:short\r\n", &mut collect(&mut rdb))
            .unwrap_err();
        assert!(err.reason.starts_with("Bad EOF mark"));
    }
}
