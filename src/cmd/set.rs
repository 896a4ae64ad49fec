//! Set commands (Redis t_set.c). Table rows live here (see
//! `super::command_table`); the value type lives in `crate::store::set`.

use super::command_table;

command_table! {
    pub static TABLE;
}
