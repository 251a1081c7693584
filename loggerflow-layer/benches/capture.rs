//! What the layer costs the app's threads, side by side in one run:
//!
//! 1. `info!` through `registry + fmt` (writing to `io::sink`) without and
//!    with our layer at ERROR: the layer must be nearly free for events it
//!    does not capture (target ≤ 1.05×).
//! 2. `error!` captured by our layer, without and with a backtrace: the
//!    caller-side cost (copy, enqueue; resolution happens on the worker).
//! 3. The same `error!` through `sentry-tracing`'s `ErrorLayer` (filtered at
//!    ERROR like ours) with a no-op transport: target ours ≤ 0.5× theirs.
//!
//! Run with `cargo bench -p loggerflow-layer --bench capture`; the ratios are
//! printed at the end.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use loggerflow_layer::LoggerFlowLayer;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn fmt_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::sink)
        .with_filter(tracing::level_filters::LevelFilter::INFO)
}

/// Our layer, with no sink: the worker still builds every report.
fn ours<S>(backtrace: bool) -> LoggerFlowLayer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    LoggerFlowLayer::builder("bench")
        .with_backtrace(backtrace)
        .capture_panics(false)
        // more room than one timed chunk (see `time`): nothing is dropped
        .queue_capacity(4096)
        .build()
}

struct NoopTransport;

impl sentry_core::Transport for NoopTransport {
    fn send_envelope(&self, envelope: sentry_core::Envelope) {
        black_box(envelope);
    }
}

/// Events per timed chunk; between chunks, untimed, our layer's worker is
/// flushed, so every captured event pays the full enqueue and none takes the
/// cheaper drop path (the worker resolves and renders slower than a caller in
/// a tight loop captures).
const CHUNK: u64 = 1000;

fn time(
    c: &mut Criterion,
    name: &str,
    dispatch: &Dispatch,
    handle: Option<&loggerflow_layer::Handle>,
    mut f: impl FnMut(),
) -> f64 {
    let mut run = |iters: u64| -> Duration {
        tracing::dispatcher::with_default(dispatch, || {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK);
                let start = std::time::Instant::now();
                for _ in 0..n {
                    f();
                }
                total += start.elapsed();
                left -= n;
                if let Some(handle) = handle {
                    handle.flush(Duration::from_secs(30));
                }
            }
            total
        })
    };
    let mut group = c.benchmark_group("capture");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function(name, |b| b.iter_custom(&mut run));
    group.finish();
    // criterion keeps its estimates to itself: time a fixed run to print ratios
    let rounds = 200_000u64;
    run(rounds).as_nanos() as f64 / rounds as f64
}

fn main() {
    let mut c = Criterion::default().configure_from_args();

    let plain = Dispatch::new(tracing_subscriber::registry().with(fmt_layer()));
    let with_ours = Dispatch::new(
        tracing_subscriber::registry()
            .with(fmt_layer())
            .with(ours(false)),
    );
    let info = || tracing::info!(user = 42, "request served in {} ms", black_box(3));
    let info_plain = time(&mut c, "info/fmt", &plain, None, info);
    let info_ours = time(&mut c, "info/fmt+loggerflow", &with_ours, None, info);

    let error = || tracing::error!(order = 42, "payment failed: {}", black_box("card declined"));
    let layer = ours(false);
    let handle = layer.handle();
    let ours_plain = Dispatch::new(tracing_subscriber::registry().with(layer));
    let error_ours = time(
        &mut c,
        "error/loggerflow",
        &ours_plain,
        Some(&handle),
        error,
    );
    let layer = ours(true);
    let handle_bt = layer.handle();
    let ours_bt = Dispatch::new(tracing_subscriber::registry().with(layer));
    let error_ours_bt = time(
        &mut c,
        "error/loggerflow+backtrace",
        &ours_bt,
        Some(&handle_bt),
        error,
    );

    let mut options = sentry_core::ClientOptions::default();
    options.dsn = "https://public@sentry.invalid/1".parse().ok();
    options.transport = Some(Arc::new(Arc::new(NoopTransport)));
    let client = Arc::new(sentry_core::Client::from(options));
    sentry_core::Hub::current().bind_client(Some(client));
    // sentry-tracing's error layer, per-layer filtered at ERROR like ours
    let sentry = Dispatch::new(tracing_subscriber::registry().with(
        sentry_tracing::ErrorLayer::new().with_filter(tracing::level_filters::LevelFilter::ERROR),
    ));
    let error_sentry = time(&mut c, "error/sentry-tracing", &sentry, None, error);

    // what a heartbeat's readings cost the app (sysinfo, this process only)
    let mut sampler = loggerflow_layer::lifecycle::Sampler::new();
    let mut group = c.benchmark_group("lifecycle");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("sample", |b| b.iter(|| black_box(sampler.sample())));
    group.finish();
    let rounds = 2_000u32;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        black_box(sampler.sample());
    }
    let sample_ns = start.elapsed().as_nanos() as f64 / f64::from(rounds);

    c.final_summary();
    println!();
    println!("figure                                   ns/event   ratio   target");
    println!(
        "info! fmt alone / with loggerflow          {info_plain:>7.0} / {info_ours:<7.0} {:>5.3}x  <= 1.05x",
        info_ours / info_plain
    );
    println!("error! loggerflow, no backtrace            {error_ours:>7.0}            < 2000 ns");
    println!("error! loggerflow, backtrace               {error_ours_bt:>7.0}");
    let (s, b) = (handle.stats(), handle_bt.stats());
    println!(
        "captured / dropped: {} / {} (no backtrace), {} / {} (backtrace)",
        s.captured, s.dropped, b.captured, b.dropped
    );
    println!(
        "error! loggerflow / sentry-tracing         {error_ours:>7.0} / {error_sentry:<7.0} {:>5.3}x  <= 0.5x",
        error_ours / error_sentry
    );
    println!(
        "lifecycle sample (one heartbeat)           {sample_ns:>7.0}            = {:.4} % of a core at one heartbeat per 5 s",
        sample_ns / 5e9 * 100.0
    );
}
