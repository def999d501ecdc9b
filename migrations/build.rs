//! `sqlx::migrate!` embeds the Postgres migrations at compile time; without this a new file
//! in `postgres/` would not rebuild the crate (sqlx documents the same build script).
fn main() {
    println!("cargo:rerun-if-changed=postgres");
}
