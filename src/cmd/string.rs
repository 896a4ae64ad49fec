//! TEMPORARY STUB (lead): helper-4 replaces this file with the string commands.
use super::Ctx;
use crate::protocol::Argv;
pub fn get(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn set(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn setnx(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn setex(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn psetex(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn mget(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn mset(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn msetnx(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn getset(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn getdel(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn getex(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn incr(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn decr(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn incrby(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn decrby(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn incrbyfloat(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn append(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn strlen(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn getrange(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn setrange(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
pub fn lcs(ctx: &mut Ctx, _argv: &Argv) {
    ctx.out.error("ERR stub");
}
