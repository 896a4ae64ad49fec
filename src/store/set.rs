//! The set value type and its Redis encodings.

/// A set value. Filled in with the set commands.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SetValue {}

impl SetValue {
    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
