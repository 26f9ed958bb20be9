//! The front-desk example as a native plugin: exports
//! `front_desk_plugin::FrontDesk` from a `cdylib` (`libfront_desk_native.so`).
#![deny(missing_docs)]

plugkit_sdk::export_plugin!(front_desk_plugin::FrontDesk);
