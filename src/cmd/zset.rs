//! Zset commands (Redis t_zset.c). Table rows live here (see
//! `super::command_table`); the value type lives in `crate::store::zset`.

use super::command_table;

command_table! {
    pub static TABLE;
}
