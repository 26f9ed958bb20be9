//! Manifest parse time for the guide's two manifests, beside a bare
//! `serde_json::from_slice` into `serde_json::Value` (the floor: syntax only,
//! no validation) and, for YAML, beside serde-saphyr into a `Value`.
//!
//! Convention (see xtask): in each group one function id starts with `baseline:`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const GUIDE_JSON: &[u8] = include_bytes!("../../fixtures/guide/plugin-manifest.json");
const GUIDE_YAML: &[u8] = include_bytes!("../../fixtures/guide/plugin-manifest.yaml");

fn serde_json_value(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("guide JSON parses")
}

fn manifest_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("manifest-parse-guide-json");
    group.bench_function("baseline:serde_json::from_slice-Value", |b| {
        b.iter(|| serde_json_value(black_box(GUIDE_JSON)))
    });
    group.bench_function("plugkit:parse", |b| {
        b.iter(|| plugin_manifest::parse(black_box(GUIDE_JSON), "plugin-manifest.json"))
    });
    group.finish();

    let mut group = c.benchmark_group("manifest-parse-guide-yaml");
    group.bench_function("baseline:serde_json::from_slice-Value(json guide)", |b| {
        b.iter(|| serde_json_value(black_box(GUIDE_JSON)))
    });
    group.bench_function("plugkit:parse", |b| {
        b.iter(|| plugin_manifest::parse(black_box(GUIDE_YAML), "plugin-manifest.yaml"))
    });
    group.finish();

    let text = std::str::from_utf8(GUIDE_YAML).expect("UTF-8");
    let mut group = c.benchmark_group("manifest-parse-guide-yaml-vs-saphyr");
    group.bench_function("baseline:serde_saphyr::from_str-Value", |b| {
        b.iter(|| serde_saphyr::from_str::<serde_json::Value>(black_box(text)))
    });
    group.bench_function("plugkit:parse", |b| {
        b.iter(|| plugin_manifest::parse(black_box(GUIDE_YAML), "plugin-manifest.yaml"))
    });
    group.finish();
}

criterion_group!(benches, manifest_parse);
criterion_main!(benches);
