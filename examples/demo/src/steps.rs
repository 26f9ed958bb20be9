//! Steps 1 to 6 of the demo: each copies something into the plugins
//! directory (or kills a process), shows what the host does, and checks
//! it.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use plugkit::discovery::DiscoveryEvent;
use plugkit::host::{HostEvent, HotLoadEvent, PluginState};
use plugkit::loader::{CrashCause, InstanceEventKind, InstanceState};
use plugkit::version::Version;
use plugkit_example_interface::{GreetReply, GreetRequest, SetRequest, methods};

use crate::events::{Awaited, Events, discovered, discovery_event, loaded};
use crate::plugins::{self, Plugins};
use crate::traffic::Traffic;
use crate::ui::Ui;
use crate::{CALLERS, CALLS_PER_STEP, CEILING, check_no_failures, counter_line, thousands};

// ---------------------------------------------------------------------------
// 1. Discovery

/// Step 1: plugin directories land; discovery events, the invalid
/// manifest, the first loads in dependency order.
pub(crate) async fn discovery(ui: &Ui, plugins: &Plugins, events: &mut Events<'_>) -> Result<()> {
    ui.section(
        1,
        "Discovery: plugin directories are copied into the watched directory",
    );
    // audit-log comes first, and its discovery is awaited, so that every
    // resolution after it (the one that loads greeter, say) considers it.
    ui.action("copy audit-log-0.3.0/ in: it requires metrics ^1.0, which no directory provides");
    plugins.write_in(
        "audit-log-0.3.0",
        &[("plugin-manifest.yaml", plugins::AUDIT_LOG)],
    )?;
    ui.action("copy report-generator/ in: its manifest has mistakes");
    let broken = plugins
        .write_in(
            "report-generator",
            &[("plugin-manifest.yaml", plugins::BROKEN)],
        )?
        .join("plugin-manifest.yaml");
    let invalid_path = broken.clone();
    let seen = events
        .until(
            |_| false,
            vec![
                discovered("audit-log", "0.3.0"),
                Awaited::new("manifest_invalid for report-generator", move |event| {
                    matches!(discovery_event(event),
                        Some(DiscoveryEvent::ManifestInvalid { path, .. }) if *path == invalid_path)
                }),
            ],
        )
        .await?;
    let (errors, with_field) = seen
        .iter()
        .find_map(|event| match discovery_event(event) {
            Some(DiscoveryEvent::ManifestInvalid { path, diagnostics }) if *path == broken => {
                let errors = diagnostics.iter().filter(|d| d.is_error());
                Some((
                    errors.clone().count(),
                    errors.filter(|d| !d.path.is_empty()).count(),
                ))
            }
            _ => None,
        })
        .unwrap_or((0, 0));
    ui.check(
        errors >= 4 && with_field == errors,
        format_args!(
            "the invalid manifest was reported with all {errors} of its errors, each naming its field"
        ),
        format_args!(
            "{errors} error(s), {with_field} naming a field; its name, version, transport and \
             dependency are all wrong"
        ),
    );

    ui.action("copy kv-store-1.4.1/ in: a native library");
    plugins.copy_in("native/kv-store-1.4.1")?;
    ui.action("copy greeter-1.0.0/ in: a child process; it requires kv-store ^1.4");
    plugins.copy_in("process/greeter-1.0.0")?;
    let seen = events
        .until(
            |event| {
                matches!(
                    event,
                    HotLoadEvent::Loading { .. } | HotLoadEvent::Loaded { .. }
                )
            },
            vec![
                discovered("kv-store", "1.4.1"),
                discovered("greeter", "1.0.0"),
                loaded("kv-store", "1.4.1"),
                loaded("greeter", "1.0.0"),
            ],
        )
        .await?;
    let position = |wanted: &dyn Fn(&HotLoadEvent) -> bool| {
        seen.iter()
            .position(|event| matches!(event, HostEvent::HotLoad(e) if wanted(e)))
    };
    let kv_loaded =
        position(&|e| matches!(e, HotLoadEvent::Loaded { plugin, .. } if plugin == "kv-store"));
    let greeter_loading =
        position(&|e| matches!(e, HotLoadEvent::Loading { plugin, .. } if plugin == "greeter"));
    ui.check(
        matches!((kv_loaded, greeter_loading), (Some(kv), Some(greeter)) if kv < greeter),
        "kv-store was loaded before greeter started loading: dependency order",
        "greeter started loading before kv-store was loaded",
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. Resolution

/// Step 2: a refused update (which also shows the host has acted on
/// everything before it), then the load order and the unmet dependency.
pub(crate) async fn resolution(
    ui: &Ui,
    host: &plugkit::Host,
    plugins: &Plugins,
    events: &mut Events<'_>,
) -> Result<()> {
    ui.section(
        2,
        "Resolution: load order, an unmet dependency, a refused update",
    );
    ui.action("copy kv-store-2.0.0/ in: a new major version of what greeter requires");
    plugins.copy_in("native-extra/kv-store-2.0.0")?;
    // Its refusal is also the sign that the host has acted on everything
    // copied in before it: the answers below are about all of it.
    let seen = events
        .until(
            |event| matches!(event, HotLoadEvent::UpdateRefused { plugin, .. } if plugin == "kv-store"),
            vec![
                discovered("kv-store", "2.0.0"),
                Awaited::new("plugin_update_refused for kv-store 2.0.0", |event| {
                    matches!(event, HostEvent::HotLoad(HotLoadEvent::UpdateRefused { plugin, candidate: Some(candidate), .. })
                        if plugin == "kv-store" && candidate.to_string() == "2.0.0")
                }),
            ],
        )
        .await?;
    let refusal = seen.iter().find_map(|event| match event {
        HostEvent::HotLoad(HotLoadEvent::UpdateRefused { reason, .. }) => Some(reason.clone()),
        _ => None,
    });

    let order = host.calculate_load_order();
    ui.fact("load order", order.join(" → "));
    for (plugin, dependencies) in host.dependency_graph() {
        if dependencies.required.is_empty() {
            continue;
        }
        let required: Vec<String> = dependencies
            .required
            .iter()
            .map(|(name, constraint)| format!("{name} {constraint}"))
            .collect();
        ui.fact(
            "dependencies",
            format_args!("{plugin} requires {}", required.join(", ")),
        );
    }
    let unresolved = host.unresolved_dependencies();
    for (dependent, missing) in &unresolved {
        let missing: Vec<&str> = missing.iter().map(String::as_str).collect();
        ui.fact(
            "unmet",
            format_args!(
                "{dependent} requires {}, which no plugin directory provides",
                missing.join(", ")
            ),
        );
    }
    let audit_log = host
        .hot_load_status()
        .into_iter()
        .find(|status| status.name == "audit-log");
    if let Some(reason) = audit_log.as_ref().and_then(|s| s.last_error.as_deref()) {
        let mut lines = reason.lines();
        ui.fact("the resolver's words", lines.next().unwrap_or_default());
        for line in lines {
            ui.note(format_args!("  {line}"));
        }
    }
    for conflict in host.version_conflicts() {
        ui.fact("version conflict", conflict);
    }

    ui.check(
        order == ["kv-store", "greeter"],
        "load order: kv-store, then greeter (which requires it)",
        format_args!("the host says {order:?}"),
    );
    let expected: BTreeSet<String> = BTreeSet::from(["metrics".to_string()]);
    ui.check(
        unresolved.get("audit-log") == Some(&expected) && unresolved.len() == 1,
        "audit-log is left out: its dependency metrics is missing; the rest loads",
        format_args!("unresolved dependencies: {unresolved:?}"),
    );
    ui.check(
        audit_log.as_ref().is_some_and(|s| {
            s.state == PluginState::Failed
                && s.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("metrics"))
        }),
        "audit-log's status says why, naming metrics",
        format_args!(
            "its status: {}",
            audit_log.as_ref().map_or("none".to_string(), |s| format!(
                "{} {}",
                s.state.name(),
                s.last_error.as_deref().unwrap_or("(no reason)")
            ))
        ),
    );
    ui.check(
        refusal.as_deref().is_some_and(|r| r.contains("greeter")),
        "kv-store 2.0.0 is refused because greeter requires kv-store ^1.4; 1.4.1 serves on",
        format_args!("the refusal says {refusal:?}"),
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// 3. Calls

/// Step 3, first half: one call to each plugin, shown.
pub(crate) async fn first_calls(ui: &Ui, host: &plugkit::Host) -> Result<()> {
    ui.section(
        3,
        "Calls: 8 callers call a child process and a native library, without pause",
    );
    let greeter_pid = host
        .instance("greeter")
        .and_then(|instance| instance.as_process().and_then(|p| p.pid()));
    let reply = host
        .call_json(
            "greeter",
            methods::GREET,
            &serde_json::json!({"name": "Ada"}),
        )
        .await
        .context("greeter did not answer")?;
    ui.fact(
        format!(
            "greeter {} (child process, pid {}) answered",
            reply.version,
            greeter_pid.map_or("?".to_string(), |pid| pid.to_string())
        )
        .as_str(),
        reply.result,
    );
    let previous: Option<String> = host
        .call_typed(
            "kv-store",
            methods::SET,
            &SetRequest {
                key: "greeted".to_string(),
                value: "Ada".to_string(),
            },
        )
        .await
        .context("kv-store did not answer")?;
    let serving = host
        .instance("kv-store")
        .map_or("?".to_string(), |i| i.version().to_string());
    ui.fact(
        format!(
            "kv-store {serving} (native library, in this process) answered set greeted=Ada with"
        )
        .as_str(),
        format_args!("{previous:?} (the previous value)"),
    );
    Ok(())
}

/// Step 3, second half: the callers' first calls, checked.
pub(crate) async fn callers(ui: &Ui, traffic: &Traffic) -> Result<()> {
    ui.note(format_args!(
        "{CALLERS} callers now call greeter.greet and kv-store.set in turn; every answer is checked"
    ));
    traffic
        .wait_until(
            &format!("{CALLS_PER_STEP} greetings from greeter 1.0.0"),
            CEILING,
            |c| c.greeted[1] >= CALLS_PER_STEP && c.stored >= CALLS_PER_STEP,
        )
        .await?;
    let counts = traffic.counts();
    ui.fact("calls", counter_line(&counts));
    check_no_failures(ui, traffic, "no call failed, every answer was right");
    Ok(())
}

// ---------------------------------------------------------------------------
// 4. Hot swap

/// Step 4: greeter 2.0.0 copied in while the callers call.
pub(crate) async fn swap(
    ui: &Ui,
    host: &plugkit::Host,
    plugins: &Plugins,
    events: &mut Events<'_>,
    traffic: &Traffic,
) -> Result<()> {
    ui.section(
        4,
        "Hot swap: greeter 2.0.0 is copied in while the callers call",
    );
    let before = traffic.counts();
    ui.action("copy greeter-2.0.0/ in");
    let copied = Instant::now();
    plugins.copy_in("process/greeter-2.0.0")?;
    events
        .until(
            |event| match event {
                HotLoadEvent::Loading { plugin, version } => {
                    plugin == "greeter" && version.to_string() == "2.0.0"
                }
                HotLoadEvent::Updated { plugin, .. } => plugin == "greeter",
                _ => false,
            },
            vec![Awaited::new("plugin_updated for greeter 2.0.0", |event| {
                matches!(event, HostEvent::HotLoad(HotLoadEvent::Updated { plugin, old_version, new_version })
                    if plugin == "greeter" && old_version.to_string() == "1.0.0" && new_version.to_string() == "2.0.0")
            })],
        )
        .await?;
    // From now on every greeting must be 2.0.0's: the host sends
    // `plugin_updated` once new calls go to the new version.
    traffic.expect_greeter_major(2);
    let switched = copied.elapsed();
    let at_switch = traffic.counts();
    traffic
        .wait_until(
            &format!("{CALLS_PER_STEP} greetings from greeter 2.0.0"),
            CEILING,
            |c| c.greeted[2] >= at_switch.greeted[2] + CALLS_PER_STEP,
        )
        .await?;
    let after = traffic.counts();
    let reply: GreetReply = host
        .call_typed(
            "greeter",
            methods::GREET,
            &GreetRequest {
                name: "Ada".to_string(),
            },
        )
        .await
        .context("greeter did not answer")?;
    ui.fact(
        "greeter now answers",
        format_args!("{:?} (version {})", reply.text, reply.version),
    );
    ui.fact("calls", counter_line(&after));
    ui.ok(format_args!(
        "2.0.0 took the calls {} ms after the copy (discovery's debounce and the host's batch window, then a load and a health check)",
        switched.as_millis()
    ));
    ui.check(
        after.greeted[1] > before.greeted[1] && after.greeted[2] >= CALLS_PER_STEP,
        format_args!(
            "during the swap {} calls were answered by 1.0.0, then {} by 2.0.0; none by 1.0.0 after plugin_updated",
            thousands(after.greeted[1] - before.greeted[1]),
            thousands(after.greeted[2])
        ),
        "the answers did not move to 2.0.0",
    );
    check_no_failures(ui, traffic, "0 calls failed during the swap");
    Ok(())
}

// ---------------------------------------------------------------------------
// 5. Rollback

/// Step 5: a greeter 3.0.0 that panics in init copied in.
pub(crate) async fn rollback(
    ui: &Ui,
    host: &plugkit::Host,
    plugins: &Plugins,
    events: &mut Events<'_>,
    traffic: &Traffic,
) -> Result<()> {
    ui.section(
        5,
        "Rollback: a greeter 3.0.0 that panics in init is copied in",
    );
    ui.action("copy greeter-3.0.0-panics-in-init/ in");
    plugins.copy_in("process-extra/greeter-3.0.0-panics-in-init")?;
    let is_v3 = |version: &Version| version.to_string() == "3.0.0";
    let seen = events
        .until(
            move |event| match event {
                HotLoadEvent::Loading { plugin, version }
                | HotLoadEvent::LoadFailed { plugin, version, .. } => {
                    plugin == "greeter" && is_v3(version)
                }
                HotLoadEvent::RolledBack { plugin, .. } => plugin == "greeter",
                _ => false,
            },
            vec![Awaited::new("plugin_rolled_back for greeter 3.0.0", |event| {
                matches!(event, HostEvent::HotLoad(HotLoadEvent::RolledBack { plugin, version, failed_version: Some(failed), .. })
                    if plugin == "greeter" && version.to_string() == "2.0.0" && failed.to_string() == "3.0.0")
            })],
        )
        .await?;
    let reason = seen.iter().find_map(|event| match event {
        HostEvent::HotLoad(HotLoadEvent::RolledBack { reason, .. }) => Some(reason.clone()),
        _ => None,
    });
    let at_rollback = traffic.counts();
    traffic
        .wait_until(
            &format!("{CALLS_PER_STEP} more greetings from greeter 2.0.0"),
            CEILING,
            |c| c.greeted[2] >= at_rollback.greeted[2] + CALLS_PER_STEP,
        )
        .await?;
    let counts = traffic.counts();
    ui.fact("calls", counter_line(&counts));
    let serving = host.instance("greeter").map(|i| i.version().to_string());
    let status = host
        .hot_load_status()
        .into_iter()
        .find(|s| s.name == "greeter");
    ui.check(
        reason.as_deref().is_some_and(|r| r.contains("panicked")),
        "the rollback says why: 3.0.0 panicked in init",
        format_args!("its reason: {reason:?}"),
    );
    ui.check(
        serving.as_deref() == Some("2.0.0")
            && status.as_ref().is_some_and(|s| {
                s.state == PluginState::Running
                    && s.version.as_ref().is_some_and(|v| v.to_string() == "2.0.0")
            }),
        format_args!(
            "2.0.0 serves on ({} more calls answered by it), none answered by 3.0.0",
            thousands(counts.greeted[2] - at_rollback.greeted[2])
        ),
        format_args!(
            "serving: {serving:?}, status: {:?}",
            status.map(|s| (s.state.name(), s.version))
        ),
    );
    check_no_failures(ui, traffic, "0 calls failed");
    Ok(())
}

// ---------------------------------------------------------------------------
// 6. Crash and restart

/// Step 6: the greeter's child killed with SIGKILL. Returns the restarts
/// seen.
pub(crate) async fn restart(
    ui: &Ui,
    host: &plugkit::Host,
    events: &mut Events<'_>,
    traffic: &Traffic,
) -> Result<u32> {
    ui.section(
        6,
        "Crash: the greeter's child process is killed with SIGKILL",
    );
    let instance = host
        .instance("greeter")
        .context("no greeter instance serves")?;
    let pid = instance
        .as_process()
        .and_then(|process| process.pid())
        .context("the greeter has no child process running")?;
    let mut instance_events = instance.events();
    ui.action(format_args!(
        "kill -KILL {pid} (greeter {}'s process) while the callers call",
        instance.version()
    ));
    traffic.arm_kill();
    let target = rustix::process::Pid::from_raw(i32::try_from(pid).context("a pid fits in i32")?)
        .context("a child's pid is not 0")?;
    rustix::process::kill_process(target, rustix::process::Signal::KILL)
        .with_context(|| format!("cannot kill {pid}"))?;
    let killed = Instant::now();

    let deadline = tokio::time::Instant::now() + CEILING;
    let mut in_flight = None;
    let mut restarts = 0;
    let restarted = loop {
        let event = match tokio::time::timeout_at(deadline, instance_events.recv()).await {
            Err(_) => bail!(
                "greeter's process was not restarted within {} s",
                CEILING.as_secs()
            ),
            Ok(Err(error)) => bail!("greeter's instance events: {error}"),
            Ok(Ok(event)) => event,
        };
        match &event.kind {
            InstanceEventKind::Crashed {
                cause,
                in_flight: n,
            } => {
                let by_the_kill = matches!(cause, CrashCause::Signaled { signal: 9 });
                ui.check(
                    by_the_kill,
                    "the crash is the kill",
                    format_args!("it says {cause}"),
                );
                in_flight = Some(*n);
            }
            InstanceEventKind::Restarted { .. } => {
                restarts += 1;
                break killed.elapsed();
            }
            InstanceEventKind::Failed { cause } => {
                bail!("greeter's instance failed instead of restarting: {cause}")
            }
            InstanceEventKind::Stopped { ended } => {
                bail!("greeter's instance stopped instead of restarting: {ended}")
            }
            _ => {}
        }
    };
    // The host's own stream says the same, in its words.
    let is_greeter = |event: &HotLoadEvent| {
        matches!(event, HotLoadEvent::Crashed { plugin, .. } | HotLoadEvent::Restarted { plugin, .. }
            if plugin == "greeter")
    };
    events
        .until(
            is_greeter,
            vec![Awaited::new("plugin_restarted for greeter", |event| {
                matches!(event, HostEvent::HotLoad(HotLoadEvent::Restarted { plugin, .. })
                    if plugin == "greeter")
            })],
        )
        .await?;
    let new_pid = instance.as_process().and_then(|process| process.pid());
    let at_restart = traffic.counts();
    traffic
        .wait_until(
            &format!("{CALLS_PER_STEP} greetings after the restart"),
            CEILING,
            |c| c.greeted[2] >= at_restart.greeted[2] + CALLS_PER_STEP,
        )
        .await?;
    let counts = traffic.counts();
    ui.fact("calls", counter_line(&counts));
    if let Some(error) = traffic.expected_error() {
        ui.fact("the error a call in flight got", error);
    }
    if counts.resent > 0 {
        ui.warn(format_args!(
            "{} call(s) made just after the process died were refused before reaching it ({:?}); \
             the callers sent them again, as that error allows",
            counts.resent,
            traffic.resent_error().unwrap_or_default()
        ));
    }
    ui.check(
        instance.state() == InstanceState::Running
            && new_pid.is_some_and(|new| new != pid)
            && host
                .instance("greeter")
                .is_some_and(|serving| serving.same_instance(&instance)),
        format_args!(
            "greeter runs again, restarted {} ms after the kill as pid {}; the host routes to the \
             same instance, no reload",
            restarted.as_millis(),
            new_pid.map_or("?".to_string(), |pid| pid.to_string())
        ),
        format_args!("state {}, pid {new_pid:?} (was {pid})", instance.state()),
    );
    let in_flight = in_flight.unwrap_or(0) as u64;
    if in_flight == 0 && counts.expected == 0 {
        ui.ok("no call happened to be in flight in the process at the instant it was killed");
    } else {
        ui.check(
            counts.expected >= in_flight,
            format_args!(
                "{} call(s) in flight in the killed process failed with a clear error \
                 (expected failures, counted apart)",
                counts.expected
            ),
            format_args!(
                "the host counted {in_flight} in flight, the callers saw {}",
                counts.expected
            ),
        );
    }
    ui.ok(format_args!(
        "calls made while it restarted waited for it and were answered (the slowest took {} ms); {} answered since",
        traffic.slowest_after_kill().as_millis(),
        thousands(counts.greeted[2] - at_restart.greeted[2])
    ));
    check_no_failures(ui, traffic, "0 calls failed unexpectedly");
    Ok(restarts)
}
