// `sqlx::migrate!` embeds ../migrations at compile time; tell cargo to rebuild when it changes,
// or an incremental build would miss a new migration.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
