//! How many requests per second the generator itself can offer on this machine: constant
//! schedules of rising rate against an axum server on 127.0.0.1 that answers every request
//! 202 at once, unsigned and SigV4-signed, one event per request. A rate is kept when every
//! request is offered within 100 ms of its scheduled time and answered; the server shares the
//! machine's cores with the generator, so the figures are a floor.
//!
//! `cargo bench -p loadgen --bench offer_rate` (`-- --quick`: 2 s per rate instead of 5).

use std::net::Ipv4Addr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use loadgen::{Auth, EventsConfig, Limits, LoadTest, PerRequest, Progress, Target};
use local_runtime::apigw::Signer;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds = if quick { 2 } else { 5 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("bound");
        let app = Router::new().route(
            "/prod/metrics",
            post(|| async { (StatusCode::ACCEPTED, r#"{"accepted":1}"#) }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = format!("http://{addr}/prod/metrics");
        println!(
            "| signed | schedule | offered | accepted | failed | dropped | offered/s | max send lag | p50 | p99 |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for signed in [false, true] {
            for rate in [1000, 4000, 8000, 16000, 32000] {
                let auth = if signed {
                    Auth::SigV4(Signer {
                        access_key_id: "test".into(),
                        secret_access_key: "test".into(),
                        session_token: None,
                        region: "us-east-1".into(),
                    })
                } else {
                    Auth::None
                };
                let test = LoadTest {
                    target: Target {
                        url: url.clone(),
                        api_key: Some("bench-key-0123456789abcdef".into()),
                        auth,
                    },
                    schedule: format!("constant:{rate}rps:{seconds}s")
                        .parse()
                        .expect("a valid schedule"),
                    events: EventsConfig {
                        per_request: PerRequest::Fixed(1),
                        seed: 1,
                        ..EventsConfig::default()
                    },
                    limits: Limits {
                        deadline: Some(Duration::from_secs(seconds + 10)),
                        ..Limits::default()
                    },
                };
                let run = loadgen::run(&test, Progress::Quiet).await.expect("runs");
                let r = &run.report;
                println!(
                    "| {signed} | {} | {} | {} | {} | {} | {:.0} | {:.1} ms | {:.2} ms | {:.2} ms |",
                    r.settings.schedule,
                    r.requests.offered,
                    r.requests.accepted,
                    r.requests.failed,
                    r.requests.dropped,
                    r.offered_rps_milli as f64 / 1000.0,
                    r.max_send_lag_us as f64 / 1000.0,
                    r.latency.answered.p50_us as f64 / 1000.0,
                    r.latency.answered.p99_us as f64 / 1000.0,
                );
                let kept = r.max_send_lag_us < 100_000 && r.requests.accepted == r.requests.offered;
                if !kept {
                    break;
                }
            }
        }
    });
}
