//! Whether a Docker engine answers, asked quickly: a machine with the `docker` client but no
//! engine (as CI's) must fall back to moto at once.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the Docker engine listens (`unix:///path` or `tcp://host:port`), as the docker client
/// and testcontainers read it.
pub const DOCKER_HOST_ENV: &str = "DOCKER_HOST";
/// Set when the engine at a `tcp://` host speaks TLS.
pub const DOCKER_TLS_VERIFY_ENV: &str = "DOCKER_TLS_VERIFY";
/// The engine's socket when `DOCKER_HOST` is unset.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// How long the engine may take to answer a ping.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum DockerUnreachable {
    #[error("{host}: {DOCKER_HOST_ENV} is neither unix:// nor tcp://")]
    Scheme { host: String },
    #[error("{host}: cannot connect")]
    Connect {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{host}: no answer to a ping within {PROBE_TIMEOUT:?}")]
    Timeout { host: String },
    #[error("{host}: the ping was answered with {status:?}")]
    NotOk { host: String, status: String },
}

/// The Docker host, if its engine answers `GET /_ping`.
pub(crate) async fn probe() -> Result<String, DockerUnreachable> {
    let host = std::env::var(DOCKER_HOST_ENV)
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned());
    probe_host(&host).await.map(|()| host)
}

pub(crate) async fn probe_host(host: &str) -> Result<(), DockerUnreachable> {
    let connect = |source| DockerUnreachable::Connect {
        host: host.to_owned(),
        source,
    };
    let ping = async {
        if let Some(path) = host.strip_prefix("unix://") {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(connect)?;
            ping(stream, host).await
        } else if let Some(address) = host.strip_prefix("tcp://") {
            let stream = tokio::net::TcpStream::connect(address.trim_end_matches('/'))
                .await
                .map_err(connect)?;
            // An engine behind TLS does not speak plain HTTP: that it accepts is the answer.
            if std::env::var_os(DOCKER_TLS_VERIFY_ENV).is_some() {
                return Ok(());
            }
            ping(stream, host).await
        } else {
            Err(DockerUnreachable::Scheme {
                host: host.to_owned(),
            })
        }
    };
    tokio::time::timeout(PROBE_TIMEOUT, ping)
        .await
        .unwrap_or_else(|_| {
            Err(DockerUnreachable::Timeout {
                host: host.to_owned(),
            })
        })
}

async fn ping<S>(mut stream: S, host: &str) -> Result<(), DockerUnreachable>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let connect = |source| DockerUnreachable::Connect {
        host: host.to_owned(),
        source,
    };
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .await
        .map_err(connect)?;
    // The status line is all we need.
    let mut response = Vec::new();
    let mut chunk = [0u8; 256];
    while !response.contains(&b'\n') && response.len() < 1024 {
        let n = stream.read(&mut chunk).await.map_err(connect)?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
    }
    let response = String::from_utf8_lossy(&response);
    let status = response.lines().next().unwrap_or("").trim().to_owned();
    if status.starts_with("HTTP/1.") && status.split(' ').nth(1) == Some("200") {
        Ok(())
    } else {
        Err(DockerUnreachable::NotOk {
            host: host.to_owned(),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_socket_is_unreachable_at_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let host = format!("unix://{}", dir.path().join("docker.sock").display());
        let started = std::time::Instant::now();
        let err = probe_host(&host).await.expect_err("no engine");
        assert!(matches!(err, DockerUnreachable::Connect { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_named() {
        let err = probe_host("ssh://me@box").await.expect_err("not supported");
        assert!(matches!(err, DockerUnreachable::Scheme { .. }), "{err}");
    }

    #[tokio::test]
    async fn an_engine_is_reachable_when_it_answers_the_ping() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("docker.sock");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let engine = tokio::spawn(async move {
            for answer in [
                &b"HTTP/1.1 200 OK\r\n\r\nOK"[..],
                b"HTTP/1.1 500 Oops\r\n\r\n",
            ] {
                let (mut stream, _) = listener.accept().await.expect("accept");
                let mut request = Vec::new();
                let mut chunk = [0u8; 64];
                while !request.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = stream.write_all(answer).await;
            }
        });
        let host = format!("unix://{}", path.display());
        probe_host(&host).await.expect("answers 200");
        let err = probe_host(&host).await.expect_err("answers 500");
        assert!(matches!(err, DockerUnreachable::NotOk { .. }), "{err}");
        engine.await.expect("engine task");
    }
}
