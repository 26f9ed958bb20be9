//! The kv-store plugin as a child process: the very same `KvStore` as the
//! `cdylib`, served over stdio (manifest `transport: process`).

fn main() -> std::process::ExitCode {
    plugkit_sdk::serve(kv_store_plugin::KvStore::default())
}
