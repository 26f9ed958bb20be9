//! The gRPC transport beside a bare tonic unary call, measured in the same
//! run, both on loopback in this process:
//!
//! - the baseline: tonic's generated client calling a server that
//!   implements the same `plugkit.plugin.v1.Plugin` service with a `Call`
//!   that returns its payload, nothing else (no plugkit on either side);
//! - plugkit: `Instance::call("echo", ..)` on an instance loaded with
//!   `Loader::load_remote`, to the SDK's `GrpcServer` serving a plugin
//!   whose `call` returns its request (the SDK's dispatch, panic guard and
//!   in-flight accounting; the loader's gate, deadline, balancer and error
//!   mapping).
//!
//! Both servers run on a runtime of their own with the same worker count,
//! accept with `TCP_NODELAY`, and carry a 32-byte payload. Figures:
//! round trip p50 and p99 over one call at a time (samples taken in
//! alternating blocks of the two sides, so a load that comes and goes
//! falls on both), and calls per second with 1 and 64 calls in flight.
//! Samples: 2,000 per side, 10,000 with `cargo xtask bench --full`
//! (`$PLUGKIT_BENCH_SAMPLES`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bench_support::Figure;
use plugin_grpc::v1::plugin_client::PluginClient;
use plugin_grpc::v1::plugin_server::{Plugin as Service, PluginServer};
use plugin_grpc::v1::{
    CallReply, CallRequest, HealthReply, HealthRequest, InfoReply, InfoRequest, MethodsReply,
    MethodsRequest, call_reply,
};
use plugin_loader::{GrpcConfig, Instance, Loader, LoaderConfig};
use plugkit_sdk::grpc::{GrpcServeConfig, GrpcServer};
use plugkit_sdk::{Plugin, PluginError, PluginInfo, Response, Version};
use tonic::transport::Channel;

const PAYLOAD: [u8; 32] = [7; 32];
/// Calls per block of one side, before the other side's block.
const BLOCK: usize = 100;
const IN_FLIGHT: [usize; 2] = [1, 64];

/// The plugin: `call` returns its request, whatever the method.
struct Echo;

impl Plugin for Echo {
    fn info(&self) -> PluginInfo {
        PluginInfo::new("echo", Version::new(1, 0, 0))
    }

    fn call(
        &self,
        _method: &str,
        request: &[u8],
        response: &mut Response<'_>,
    ) -> Result<(), PluginError> {
        response.extend_from_slice(request);
        Ok(())
    }
}

/// The baseline's server: the same service, answered by hand.
struct Bare;

#[tonic::async_trait]
impl Service for Bare {
    async fn info(
        &self,
        _: tonic::Request<InfoRequest>,
    ) -> Result<tonic::Response<InfoReply>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare"))
    }

    async fn call(
        &self,
        request: tonic::Request<CallRequest>,
    ) -> Result<tonic::Response<CallReply>, tonic::Status> {
        Ok(tonic::Response::new(CallReply {
            result: Some(call_reply::Result::Payload(request.into_inner().payload)),
        }))
    }

    async fn health(
        &self,
        _: tonic::Request<HealthRequest>,
    ) -> Result<tonic::Response<HealthReply>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare"))
    }

    async fn methods(
        &self,
        _: tonic::Request<MethodsRequest>,
    ) -> Result<tonic::Response<MethodsReply>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare"))
    }
}

/// Serves [`Bare`] on a runtime of its own (`workers` threads); returns
/// the address and the runtime (dropping it stops the server).
fn bare_server(workers: usize) -> (SocketAddr, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(PluginServer::new(Bare))
            .serve_with_incoming(incoming),
    );
    (addr, runtime)
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

/// One call at a time on each side, in alternating blocks.
async fn latencies(
    samples: usize,
    client: &PluginClient<Channel>,
    instance: &Instance,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut bare, mut plugkit) = (Vec::new(), Vec::new());
    while bare.len() < samples {
        for _ in 0..BLOCK {
            let mut client = client.clone();
            let start = Instant::now();
            client
                .call(CallRequest {
                    method: "echo".into(),
                    payload: PAYLOAD.to_vec(),
                    json: false,
                })
                .await
                .expect("bare call");
            bare.push(start.elapsed());
        }
        for _ in 0..BLOCK {
            let start = Instant::now();
            instance.call("echo", &PAYLOAD).await.expect("plugkit call");
            plugkit.push(start.elapsed());
        }
    }
    bare.sort_unstable();
    plugkit.sort_unstable();
    (bare, plugkit)
}

/// Calls per second with `in_flight` callers sharing `total` calls.
async fn throughput<F, Fut>(total: usize, in_flight: usize, call: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let call = call.clone();
            let share = total / in_flight;
            tokio::spawn(async move {
                for _ in 0..share {
                    call().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("caller");
    }
    (total / in_flight * in_flight) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let samples = bench_support::count("PLUGKIT_BENCH_SAMPLES", 2_000, 10_000);
    let workers = 2;
    let (bare_addr, _bare_runtime) = bare_server(workers);
    let server = GrpcServer::start(
        Echo,
        "127.0.0.1:0".parse().expect("address"),
        GrpcServeConfig::default().with_worker_threads(workers),
    )
    .expect("server starts");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{bare_addr}"))
            .expect("endpoint")
            .tcp_nodelay(true)
            .connect()
            .await
            .expect("bare channel");
        let client = PluginClient::new(channel);
        let text = format!(
            "name: echo\nversion: 1.0.0\ntransport: grpc\nendpoint: {}\n",
            server.local_addr()
        );
        let manifest = plugin_manifest::parse(text.as_bytes(), "plugin-manifest.yaml")
            .expect("manifest")
            .manifest;
        let loader = Loader::new(LoaderConfig::default().with_grpc(GrpcConfig::default()));
        let instance = loader
            .load_remote(&manifest, &[server.local_addr().to_string()])
            .await
            .expect("load");
        // Warm both paths up.
        let _ = latencies(BLOCK * 2, &client, &instance).await;
        let (bare, plugkit) = latencies(samples, &client, &instance).await;
        let note = format!("{samples} calls a side, 32-byte payload, loopback, one call at a time");
        for (name, q) in [("round trip p50", 0.5), ("round trip p99", 0.99)] {
            Figure::new("grpc", name, quantile(&plugkit, q), "µs")
                .baseline("bare tonic unary echo", quantile(&bare, q))
                .note(note.clone())
                .write();
        }
        for in_flight in IN_FLIGHT {
            let total = samples * 4;
            let bare_client = client.clone();
            let bare = throughput(total, in_flight, move || {
                let mut client = bare_client.clone();
                async move {
                    client
                        .call(CallRequest {
                            method: "echo".into(),
                            payload: PAYLOAD.to_vec(),
                            json: false,
                        })
                        .await
                        .expect("bare call");
                }
            })
            .await;
            let shared = instance.clone();
            let plugkit = throughput(total, in_flight, move || {
                let instance = shared.clone();
                async move {
                    instance.call("echo", &PAYLOAD).await.expect("plugkit call");
                }
            })
            .await;
            Figure::new(
                "grpc",
                format!("calls/s, {in_flight} in flight"),
                plugkit,
                "calls/s",
            )
            .baseline(format!("bare tonic, {in_flight} in flight"), bare)
            .note(format!("{total} calls a side"))
            .write();
        }
        instance.shutdown(Duration::from_secs(5)).await;
    });
    runtime.block_on(server.shutdown(Duration::from_secs(5)));
}
