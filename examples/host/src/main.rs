//! The example host: discovers the plugins under a directory (through
//! plugin-discovery, the same scan `plugkit discover` does), resolves their
//! dependencies, loads them in dependency order with the loader, and calls
//! them through the shared interface crate, typed and as JSON.
//!
//! ```text
//! example-host PLUGIN_DIR [CACHE_DIR [PROCESS_PLUGIN_DIR]]
//! ```
//!
//! With a third argument, it also starts the plugins found there (the
//! greeter again, built as an executable) as child processes and calls them
//! the same way: one plugin code base, two transports, one `Instance`.
//!
//! `cargo xtask demo` and `cargo xtask test` lay the example plugins out
//! with `cargo xtask example-plugins --out target/plugkit-examples/plugins`
//! and run this program on that directory's `native/` (plugin directory)
//! and `process/` (process plugin directory).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use plugkit::discovery::{DiscoveredPlugin, DiscoveryConfig, discover};
use plugkit::loader::{Instance, Loader, LoaderConfig};
use plugkit::resolver::{Registry, ResolveOptions, Wanted, resolve};
use plugkit_example_interface::{GetRequest, GreetReply, GreetRequest, SetRequest, methods};

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let Some(plugin_dir) = args.next().map(PathBuf::from) else {
        bail!("usage: example-host PLUGIN_DIR [CACHE_DIR [PROCESS_PLUGIN_DIR]]");
    };
    let cache_dir = args
        .next()
        .map_or_else(|| plugin_dir.join(".cache"), PathBuf::from);
    let process_dir = args.next().map(PathBuf::from);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let loader = Loader::new(LoaderConfig::default().with_cache_dir(cache_dir));
    runtime.block_on(async {
        let loaded = load_in_order(&loader, &plugin_dir).await?;
        let store = loaded.get("kv-store").context("kv-store is not loaded")?;
        let greeter = loaded.get("greeter").context("greeter is not loaded")?;
        for name in ["Ada", "Grace", "Ada"] {
            let reply: GreetReply = greeter
                .call_typed(
                    methods::GREET,
                    &GreetRequest {
                        name: name.to_string(),
                    },
                )
                .await?;
            let key = format!("greeted:{name}");
            let seen: Option<String> = store
                .call_typed(methods::GET, &GetRequest { key: key.clone() })
                .await?;
            let count = seen.as_deref().unwrap_or("0").parse::<u32>().unwrap_or(0) + 1;
            let _: Option<String> = store
                .call_typed(
                    methods::SET,
                    &SetRequest {
                        key,
                        value: count.to_string(),
                    },
                )
                .await?;
            println!(
                "greeter {}: {:?} (greeted {count} time(s))",
                reply.version, reply.text
            );
        }
        let json = greeter
            .call_json(methods::GREET, &serde_json::json!({"name": "JSON"}))
            .await?;
        println!("greeter as JSON: {json}");
        shut_down(loaded).await;
        if let Some(dir) = process_dir {
            let processes = load_in_order(&loader, &dir).await?;
            for (name, plugin) in &processes {
                let pid = plugin
                    .as_process()
                    .and_then(|p| p.pid())
                    .unwrap_or_default();
                println!("started {name} {} as process {pid}", plugin.version());
            }
            let greeter = processes.get("greeter").context("no greeter process")?;
            let reply: GreetReply = greeter
                .call_typed(
                    methods::GREET,
                    &GreetRequest {
                        name: "Ada".to_string(),
                    },
                )
                .await?;
            println!("greeter {} (process): {:?}", reply.version, reply.text);
            shut_down(processes).await;
        }
        Ok(())
    })
}

/// Discovers the plugins under `dir`, resolves them (every version found is
/// a candidate), and loads the chosen version of each in load order.
async fn load_in_order(loader: &Loader, dir: &Path) -> Result<Vec<(String, Instance)>> {
    let found = discover(&DiscoveryConfig::new([dir]))?;
    if let Some(error) = found.errors.first() {
        bail!("cannot discover the plugins in {}: {error}", dir.display());
    }
    for invalid in &found.invalid {
        eprintln!(
            "invalid manifest {}: {} problem(s)",
            invalid.path.display(),
            invalid.diagnostics.len()
        );
    }
    let mut registry = Registry::new();
    let mut by_version: BTreeMap<(String, String), &DiscoveredPlugin> = BTreeMap::new();
    for plugin in &found.plugins {
        registry.add_manifest(&plugin.manifest)?;
        by_version.insert(
            (plugin.name().to_string(), plugin.version().to_string()),
            plugin,
        );
    }
    let names: std::collections::BTreeSet<&str> = found.plugins.iter().map(|p| p.name()).collect();
    let wanted: Vec<Wanted> = names.into_iter().map(Wanted::new).collect();
    let resolution = resolve(&registry, &wanted, &ResolveOptions::default())?;
    let order = resolution.load_order();
    println!("load order: {}", order.join(" -> "));
    let mut loaded = Vec::new();
    for name in order {
        let version = resolution.version(name).context("a chosen version")?;
        let plugin = by_version
            .get(&(name.to_string(), version.to_string()))
            .with_context(|| format!("{name} {version} was resolved but not discovered"))?;
        let manifest_dir = plugin
            .manifest_path
            .parent()
            .context("a manifest has a directory")?;
        let instance = loader.load(&plugin.manifest, manifest_dir).await?;
        let info = instance.info();
        println!(
            "loaded {} {} ({}, built with plugkit-sdk {})",
            info.name, info.version, info.transport, info.sdk_version
        );
        loaded.push((name.to_string(), instance));
    }
    Ok(loaded)
}

/// Shuts the plugins down in reverse load order.
async fn shut_down(loaded: Vec<(String, Instance)>) {
    for (name, plugin) in loaded.into_iter().rev() {
        let outcome = plugin.shutdown(Duration::from_secs(5)).await;
        println!("stopped {name}: {}", outcome.ended);
    }
}

/// Looks a plugin up by name in load order.
trait ByName {
    fn get(&self, name: &str) -> Option<&Instance>;
}

impl ByName for Vec<(String, Instance)> {
    fn get(&self, name: &str) -> Option<&Instance> {
        self.iter().find(|(n, _)| n == name).map(|(_, i)| i)
    }
}
