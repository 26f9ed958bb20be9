//! The greeter plugin as a child process: the very same `Greeter` as the
//! `cdylib`, served over stdio (manifest `transport: process`).

fn main() -> std::process::ExitCode {
    plugkit_sdk::serve(greeter_plugin::Greeter::default())
}
