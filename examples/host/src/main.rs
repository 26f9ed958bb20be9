//! The example host: finds the plugins under a directory, resolves their
//! dependencies, loads them in dependency order with the native loader, and
//! calls them through the shared interface crate.
//!
//! ```text
//! example-host PLUGIN_DIR [CACHE_DIR [PROCESS_PLUGIN_DIR]]
//! ```
//!
//! With a third argument, it also starts the plugin in that directory (the
//! greeter again, built as an executable) as a child process and calls it
//! the same way: one plugin code base, two transports.
//!
//! `cargo xtask demo` and `cargo xtask test` build the example plugins,
//! stage them in `target/plugkit-examples/plugins/` and run this program.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use plugkit::loader::{NativeLoader, NativePlugin, ProcessLoader};
use plugkit::manifest::{MANIFEST_FILE_NAMES, Manifest};
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

    let manifests = read_manifests(&plugin_dir)?;
    let mut registry = Registry::new();
    for (manifest, _) in manifests.values() {
        registry.add_manifest(manifest)?;
    }
    let wanted: Vec<Wanted> = manifests
        .keys()
        .map(|name| Wanted::new(name.as_str()))
        .collect();
    let resolution = resolve(&registry, &wanted, &ResolveOptions::default())?;
    let order = resolution.load_order();
    println!("load order: {}", order.join(" -> "));

    let loader = NativeLoader::new(cache_dir);
    let mut loaded: BTreeMap<&str, NativePlugin> = BTreeMap::new();
    for name in order {
        let (manifest, dir) = &manifests[name];
        let plugin = loader.load(manifest, dir)?;
        println!(
            "loaded {} {} (built with plugkit-sdk {})",
            plugin.name(),
            plugin.version(),
            plugin.sdk_version()
        );
        loaded.insert(name, plugin);
    }

    let store = loaded.get("kv-store").context("kv-store is not loaded")?;
    let greeter = loaded.get("greeter").context("greeter is not loaded")?;
    for name in ["Ada", "Grace", "Ada"] {
        let reply: GreetReply = greeter.call_typed(
            methods::GREET,
            &GreetRequest {
                name: name.to_string(),
            },
        )?;
        let key = format!("greeted:{name}");
        let seen: Option<String> =
            store.call_typed(methods::GET, &GetRequest { key: key.clone() })?;
        let count = seen.as_deref().unwrap_or("0").parse::<u32>().unwrap_or(0) + 1;
        let _: Option<String> = store.call_typed(
            methods::SET,
            &SetRequest {
                key,
                value: count.to_string(),
            },
        )?;
        println!(
            "greeter {}: {:?} (greeted {count} time(s))",
            reply.version, reply.text
        );
    }
    for plugin in loaded.values() {
        plugin.shutdown()?;
    }
    if let Some(dir) = process_dir {
        call_process_plugin(&dir)?;
    }
    Ok(())
}

/// Starts the process plugin in `dir`, greets through it, shuts it down.
fn call_process_plugin(dir: &Path) -> Result<()> {
    let path = dir.join("plugin-manifest.yaml");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let manifest = plugkit::manifest::parse(&bytes, &path.display().to_string())?.manifest;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let plugin = ProcessLoader::default().load(&manifest, dir).await?;
        println!(
            "started {} {} as process {}",
            plugin.name(),
            plugin.version(),
            plugin.pid().unwrap_or_default()
        );
        let reply: GreetReply = plugin
            .call_typed(
                methods::GREET,
                &GreetRequest {
                    name: "Ada".to_string(),
                },
            )
            .await?;
        println!("greeter {} (process): {:?}", reply.version, reply.text);
        println!("stopped: {}", plugin.shutdown().await);
        Ok(())
    })
}

/// Every manifest under `dir`, one level of plugin directories deep, by name.
fn read_manifests(dir: &Path) -> Result<BTreeMap<String, (Manifest, PathBuf)>> {
    let mut found = BTreeMap::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let plugin_dir = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        for file_name in MANIFEST_FILE_NAMES {
            let path = plugin_dir.join(file_name);
            if !path.is_file() {
                continue;
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let parsed = plugkit::manifest::parse(&bytes, &path.display().to_string())?;
            found.insert(
                parsed.manifest.name().to_string(),
                (parsed.manifest, plugin_dir.clone()),
            );
        }
    }
    Ok(found)
}
