//! The hash value type and its Redis encodings.

/// A hash value. Filled in with the hash commands.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HashValue {}

impl HashValue {
    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
