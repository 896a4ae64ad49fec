//! The RDB format, sans-IO: bytes in, bytes out (never files or sockets).
//!
//! - [`encode`]: [`Encoder`] writes a snapshot piece by piece into a
//!   caller's buffer (header, AUX, SELECTDB, RESIZEDB, entries, EOF + CRC)
//!   exactly as Redis 7.0 lays it out; [`encode_value`] / [`dump_payload`]
//!   serve DUMP.
//! - [`decode`]: [`Decoder`] is fed chunks of any size and yields
//!   [`Item`]s; [`restore_payload`] checks and decodes a DUMP payload.
//! - [`lzf`], [`crc64`]: the compression and checksum Redis uses.
//!
//! Every failure is an [`Error`] with the byte offset where it was found.
//! Hostile input never panics and never makes the decoder allocate more
//! than a small multiple of the bytes it was given.

pub mod decode;
pub mod encode;
mod legacy;
pub mod lzf;

pub use decode::{
    decode_all, restore_payload, restore_payload_with, Checksum, Decoder, Item, LoadedEntry,
    RestoreError, BAD_DATA_FORMAT, DUMP_PAYLOAD_ERROR,
};
pub use encode::{dump_payload, dump_payload_with, encode_value, EncodeOptions, Encoder, KeyMeta};

/// The version we write by default (Redis 7.0's, so 7.0 replicas load it).
pub const RDB_VERSION: u16 = 10;
/// The newest version we read (Redis 7.4).
pub const RDB_VERSION_MAX: u16 = 12;

/// Value types (rdb.h `RDB_TYPE_*`).
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
    pub const HASH_METADATA_PRE_GA: u8 = 22;
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    pub const HASH_METADATA: u8 = 24;
    pub const HASH_LISTPACK_EX: u8 = 25;
}

/// Opcodes (rdb.h `RDB_OPCODE_*`).
pub mod opcodes {
    pub const SLOT_INFO: u8 = 0xF4;
    pub const FUNCTION2: u8 = 0xF5;
    pub const FUNCTION_PRE_GA: u8 = 0xF6;
    pub const MODULE_AUX: u8 = 0xF7;
    pub const IDLE: u8 = 0xF8;
    pub const FREQ: u8 = 0xF9;
    pub const AUX: u8 = 0xFA;
    pub const RESIZEDB: u8 = 0xFB;
    pub const EXPIRETIME_MS: u8 = 0xFC;
    pub const EXPIRETIME: u8 = 0xFD;
    pub const SELECTDB: u8 = 0xFE;
    pub const EOF: u8 = 0xFF;
}

/// Quicklist node containers (quicklist.h).
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_PACKED: u64 = 2;

/// Why bytes are not a valid RDB (or DUMP payload), and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Byte offset from the start of the input where the problem was seen.
    pub offset: u64,
    pub reason: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for Error {}

/// The encoding thresholds loaded values are converted by: the server's
/// own (`hash-max-listpack-entries` and friends). `Default` is Redis 7.0's.
pub use crate::server::EncodingLimits as Limits;

/// CRC-64/Jones as Redis's crc64.c (reflected, init 0, xorout 0).
pub mod crc64 {
    use crc_fast::CrcAlgorithm::Crc64Redis;

    /// A running checksum.
    pub type Running = crc_fast::Digest;

    pub fn running() -> Running {
        crc_fast::Digest::new(Crc64Redis)
    }

    /// The checksum of `data`.
    pub fn checksum(data: &[u8]) -> u64 {
        crc_fast::checksum(Crc64Redis, data)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn check_value_and_streaming_match_redis() {
            assert_eq!(super::checksum(b"123456789"), 0xE9C6D914C4B8D9CA);
            let mut d = super::running();
            d.update(b"1234");
            d.update(b"56789");
            assert_eq!(d.finalize(), 0xE9C6D914C4B8D9CA);
            // check-rdb's empty file vector (reference doc, section 8).
            let body = b"REDIS0010\xff";
            assert_eq!(
                super::checksum(body).to_le_bytes(),
                [0xa9, 0xfd, 0x37, 0xfe, 0x89, 0xa7, 0x7e, 0xeb]
            );
        }
    }
}
