//! The front-desk plugin as a child process: the very same `FrontDesk` as
//! the `cdylib`, served over stdio (manifest `transport: process`).

fn main() -> std::process::ExitCode {
    plugkit_sdk::serve(front_desk_plugin::FrontDesk::default())
}
