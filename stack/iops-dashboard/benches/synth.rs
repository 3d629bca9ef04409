//! Synthesizing the full CoreStack: time and allocations per synth.
//!
//! `cargo bench -p iops-dashboard --bench synth` prints, for building the construct tree and
//! synthesizing it to a validated template (which includes hashing the function sources), the
//! time per synth (min, median, mean over the samples) and the allocations per synth.

use std::hint::black_box;
use std::time::{Duration, Instant};

use iops_dashboard::{App, Config};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn synth_core(config: &Config) -> usize {
    let app = App::new(config, iops_dashboard::workspace_root());
    let template = app
        .core
        .stack
        .synth()
        .unwrap_or_else(|e| panic!("the core stack must synthesize: {e}"));
    template.resources.len()
}

/// Hashing the code of both functions alone, the part of a synth that reads files.
fn hash_functions() -> usize {
    let root = iops_dashboard::workspace_root();
    let workspace =
        constructs::assets::Workspace::load(&root).unwrap_or_else(|e| panic!("workspace: {e}"));
    [
        iops_dashboard::INGEST_PACKAGE,
        iops_dashboard::STREAM_PROCESSOR_PACKAGE,
    ]
    .iter()
    .map(|p| {
        let asset = workspace.rust_asset(p, p, constructs::assets::Architecture::X86_64);
        asset.unwrap_or_else(|e| panic!("{p}: {e}")).hash.len()
    })
    .sum()
}

/// Samples `f` for about three seconds (20 to 500 runs): sorted durations.
fn sample(mut f: impl FnMut() -> usize) -> Vec<Duration> {
    for _ in 0..3 {
        black_box(f());
    }
    let mut samples = Vec::new();
    let budget = Instant::now();
    while samples.len() < 20 || (budget.elapsed() < Duration::from_secs(3) && samples.len() < 500) {
        let start = Instant::now();
        black_box(f());
        samples.push(start.elapsed());
    }
    samples.sort();
    samples
}

fn main() {
    let config = Config::default();
    let samples = sample(|| synth_core(&config));
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let median = samples[samples.len() / 2];
    let hashing = sample(hash_functions);
    let hashing_median = hashing[hashing.len() / 2];

    let _profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get();
    let resources = black_box(synth_core(&config));
    let after = dhat::HeapStats::get();

    println!(
        "CoreStack synth ({resources} resources), {} samples:",
        samples.len()
    );
    println!(
        "  time per synth: min {:?}, median {median:?}, mean {mean:?}",
        samples[0]
    );
    println!("  of which hashing the two functions' build inputs: median {hashing_median:?}");
    println!(
        "  allocations per synth: {} blocks, {} KiB",
        after.total_blocks - before.total_blocks,
        (after.total_bytes - before.total_bytes) / 1024
    );
}
