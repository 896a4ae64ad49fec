//! List commands (Redis t_list.c). Table rows live here (see
//! `super::command_table`); the value type lives in `crate::store::list`.

use super::command_table;

command_table! {
    pub static TABLE;
}
