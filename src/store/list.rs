//! The list value type and its Redis encodings.

/// A list value. Filled in with the list commands.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListValue {}

impl ListValue {
    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
