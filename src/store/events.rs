//! Keyspace notifications (notify.c): the event classes of
//! `notify-keyspace-events`, and the events a command collects while it
//! runs. The server publishes them once the command is done, still under
//! its stripe locks, to `__keyspace@<db>__:<key>` and
//! `__keyevent@<db>__:<event>` (server's `pubsub::publish_events`).

use super::Key;

pub const KEYSPACE: u32 = 1 << 0; // K
pub const KEYEVENT: u32 = 1 << 1; // E
pub const GENERIC: u32 = 1 << 2; // g
pub const STRING: u32 = 1 << 3; // $
pub const LIST: u32 = 1 << 4; // l
pub const SET: u32 = 1 << 5; // s
pub const HASH: u32 = 1 << 6; // h
pub const ZSET: u32 = 1 << 7; // z
pub const EXPIRED: u32 = 1 << 8; // x
pub const EVICTED: u32 = 1 << 9; // e
pub const STREAM: u32 = 1 << 10; // t
pub const KEY_MISS: u32 = 1 << 11; // m (not part of A)
pub const MODULE: u32 = 1 << 13; // d (accepted; sluice has no modules)
pub const NEW: u32 = 1 << 14; // n (not part of A)
/// `A`: every class but key misses and new keys.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The letters of each class, in the order `flags_to_string` writes them.
const LETTERS: [(u8, u32); 11] = [
    (b'g', GENERIC),
    (b'$', STRING),
    (b'l', LIST),
    (b's', SET),
    (b'h', HASH),
    (b'z', ZSET),
    (b'x', EXPIRED),
    (b'e', EVICTED),
    (b't', STREAM),
    (b'd', MODULE),
    (b'n', NEW),
];

/// The flags of a `notify-keyspace-events` value (notify.c
/// `keyspaceEventsStringToFlags`); `None` for an unknown character.
pub fn parse(classes: &[u8]) -> Option<u32> {
    classes.iter().try_fold(0, |flags, &c| {
        let class = match c {
            b'A' => ALL,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b'm' => KEY_MISS,
            _ => LETTERS.iter().find(|(l, _)| *l == c)?.1,
        };
        Some(flags | class)
    })
}

/// The canonical text of `flags` (notify.c `keyspaceEventsFlagsToString`):
/// `A` for all of ALL, else the class letters, then K, E, m.
pub fn show(flags: u32) -> Vec<u8> {
    let mut out = Vec::new();
    if flags & ALL == ALL {
        // As Redis: `n` is not shown beside `A` (so CONFIG GET of "AKEn"
        // reads "AKE"), though the flag stays set.
        out.push(b'A');
    } else {
        out.extend(
            LETTERS
                .iter()
                .filter(|(_, f)| flags & f != 0)
                .map(|(l, _)| l),
        );
    }
    for (letter, class) in [(b'K', KEYSPACE), (b'E', KEYEVENT), (b'm', KEY_MISS)] {
        if flags & class != 0 {
            out.push(letter);
        }
    }
    out
}

/// Whether `flags` publish anything: a class and at least one of the two
/// channel kinds.
pub fn active(flags: u32) -> bool {
    flags & (KEYSPACE | KEYEVENT) != 0 && flags & !(KEYSPACE | KEYEVENT) != 0
}

/// One keyspace event, published after the command that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: &'static str,
    pub db: usize,
    pub key: Key,
}

/// The events of one command, and the classes the server wants.
#[derive(Debug, Default)]
pub struct Events {
    /// `notify-keyspace-events` as flags; 0 collects nothing.
    pub flags: u32,
    pub list: Vec<Event>,
}

impl Events {
    /// Records `name` on `key` in `db` if its class is on (notify.c
    /// `notifyKeyspaceEvent`'s first check).
    #[inline]
    pub fn add(&mut self, class: u32, name: &'static str, db: usize, key: &[u8]) {
        if self.flags & class != 0 {
            self.list.push(Event {
                name,
                db,
                key: key.into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_as_redis_prints_them() {
        for (input, shown) in [
            ("", ""),
            ("KEA", "AKE"),
            ("AKEm", "AKEm"),
            ("Kx", "xK"),
            ("E$lshz", "$lshzE"),
            ("g$lshzxetd", "A"),
            ("g$lshzxet", "g$lshzxet"),
            ("nK", "nK"),
            ("AnKEm", "AKEm"),
        ] {
            let flags = parse(input.as_bytes()).unwrap();
            assert_eq!(show(flags), shown.as_bytes(), "{input}");
        }
        assert_eq!(parse(b"KEA!"), None);
        assert_eq!(parse(b"X"), None);
    }

    #[test]
    fn active_needs_a_channel_kind_and_a_class() {
        assert!(!active(0));
        assert!(!active(KEYSPACE | KEYEVENT));
        assert!(!active(ALL));
        assert!(active(KEYSPACE | EXPIRED));
    }
}
