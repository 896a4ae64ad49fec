//! Hash commands (Redis t_hash.c). Table rows live here (see
//! `super::command_table`); the value type lives in `crate::store::hash`.

use super::command_table;

command_table! {
    pub static TABLE;
}
