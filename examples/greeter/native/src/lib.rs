//! The greeter example as a native plugin: exports `greeter_plugin::Greeter`
//! from a `cdylib` (`libgreeter_native.so`).
#![deny(missing_docs)]

plugkit_sdk::export_plugin!(greeter_plugin::Greeter);
