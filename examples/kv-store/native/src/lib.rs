//! The kv-store example as a native plugin: exports `kv_store_plugin::KvStore`
//! from a `cdylib` (`libkv_store_native.so`).
#![deny(missing_docs)]

plugkit_sdk::export_plugin!(kv_store_plugin::KvStore);
