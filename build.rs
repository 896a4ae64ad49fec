//! Compiles `csrc/ld.c`: INCRBYFLOAT must add in C `long double` and print
//! with glibc's `%.17Lf`, and float parsing must accept exactly what glibc's
//! `strtod` accepts, to be byte-identical with Redis (see `src/num.rs`).

fn main() {
    println!("cargo:rerun-if-changed=csrc/ld.c");
    cc::Build::new()
        .file("csrc/ld.c")
        .std("c99")
        .warnings(true)
        .extra_warnings(true)
        .compile("sluice_ld");
}
