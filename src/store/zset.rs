//! The zset value type and its Redis encodings.

/// A zset value. Filled in with the zset commands.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZSetValue {}

impl ZSetValue {
    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
