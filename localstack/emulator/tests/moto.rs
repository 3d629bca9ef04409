//! The moto backend, for real: it serves the SDK, and no server outlives its handle or the
//! process that started it.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use emulator::{Backend, Emulator};

/// Set for the child process of `a_killed_parent_leaves_no_server_behind`.
const CHILD_ENV: &str = "EMULATOR_TEST_CHILD";

fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("endpoint ends with a port")
}

/// Waits until nothing listens on `port` any more.
fn wait_until_closed(port: u16, within: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        if TcpStream::connect(("127.0.0.1", port)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[tokio::test]
async fn moto_serves_the_sdk_and_stops_when_dropped() {
    let emulator = Emulator::moto().await.expect("moto starts");
    println!("emulator: {emulator}");
    assert_eq!(emulator.backend(), Backend::Moto);
    assert!(
        emulator.endpoint().starts_with("http://127.0.0.1:"),
        "{}",
        emulator.endpoint()
    );

    let s3 = emulator::s3_client(&emulator.sdk_config());
    s3.create_bucket()
        .bucket("emulator-test")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsEast2)
                .build(),
        )
        .send()
        .await
        .expect("create bucket");
    s3.put_object()
        .bucket("emulator-test")
        .key("a/b.txt")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .expect("put object");
    let listed = s3
        .list_objects_v2()
        .bucket("emulator-test")
        .send()
        .await
        .expect("list objects");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["a/b.txt"]);

    let port = port_of(emulator.endpoint());
    drop(emulator);
    assert!(
        wait_until_closed(port, Duration::from_secs(1)),
        "the server is stopped by the time drop returns"
    );
}

#[tokio::test]
async fn two_emulators_run_side_by_side() {
    let (a, b) = tokio::join!(Emulator::moto(), Emulator::moto());
    let (a, b) = (a.expect("first starts"), b.expect("second starts"));
    assert_ne!(a.endpoint(), b.endpoint());
}

#[test]
fn a_killed_parent_leaves_no_server_behind() {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_starts_moto_and_waits",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("piped stdout");
    let endpoint = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("ENDPOINT=").map(str::to_owned))
        .expect("the child prints its endpoint");
    let port = port_of(&endpoint);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "moto answers"
    );

    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    assert!(
        wait_until_closed(port, Duration::from_secs(5)),
        "moto at {endpoint} exits with the process that started it"
    );
}

#[tokio::test]
#[ignore = "the child process of a_killed_parent_leaves_no_server_behind"]
async fn child_starts_moto_and_waits() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let emulator = Emulator::moto().await.expect("moto starts");
    println!("ENDPOINT={}", emulator.endpoint());
    tokio::time::sleep(Duration::from_secs(120)).await;
}
