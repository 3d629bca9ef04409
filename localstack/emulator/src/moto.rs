//! moto as a host process: `moto_server -H 127.0.0.1 -p PORT` from a pinned, cached venv, on a
//! free loopback port, its log kept under `<target>/tools/logs/`, health-checked, and stopped when
//! the handle drops.
//!
//! The server never outlives the process that started it: it runs inside a small Python wrapper
//! that exits as soon as its standard input closes, and only the starting process holds the other
//! end of that pipe. The kernel closes it when that process exits however it exits (a panic, a
//! SIGKILL), so no server is left behind. The wrapper runs in its own process group so that a
//! Ctrl-C at the terminal reaches only the starting process, which then stops the server itself.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::EmulatorError;
use python_tools::PythonTool;

/// moto with its HTTP server, pinned.
pub const MOTO: PythonTool = PythonTool {
    requirement: "moto[server]==5.2.5",
    with: &[],
    script: "moto_server",
};

/// Runs moto's server (what the `moto_server` script runs) with the arguments given, and exits
/// the whole process, server threads included, when standard input reaches end of file.
const WRAPPER: &str = r#"
import os, sys, threading

def exit_when_stdin_closes():
    while os.read(0, 1024):
        pass
    os._exit(0)

threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
from moto.server import main
main(sys.argv[1:])
"#;

/// How long a fresh server may take to answer (it answers in 1–2 s; a cold file cache is slower).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a starting server is asked whether it answers.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long a server may take to exit once its standard input is closed, before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// Another process may take the free port between our probe and moto's bind: try a new one.
const PORT_ATTEMPTS: usize = 3;
/// Lines of the log shown in an error.
const TAIL_LINES: usize = 30;

/// A moto server process; dropping it stops the server.
#[derive(Debug)]
pub(crate) struct MotoServer {
    child: Child,
    /// The pipe whose closing stops the server.
    stdin: Option<ChildStdin>,
    endpoint: String,
    log: PathBuf,
}

impl MotoServer {
    /// Installs moto if needed (first use) and starts a server on a free loopback port.
    pub(crate) async fn start(tools_dir: &Path) -> Result<MotoServer, EmulatorError> {
        let started = Instant::now();
        let dir = tools_dir.to_owned();
        let script = tokio::task::spawn_blocking(move || MOTO.ensure(&dir))
            .await
            .map_err(|source| EmulatorError::InstallPanicked {
                requirement: MOTO.requirement,
                source,
            })?
            .map_err(|source| EmulatorError::Install {
                requirement: MOTO.requirement,
                source,
            })?;
        // The venv's interpreter, beside the script it installed.
        let python = script.with_file_name("python3");
        let logs = tools_dir.join("logs");
        fs::create_dir_all(&logs).map_err(|source| EmulatorError::Log {
            path: logs.clone(),
            source,
        })?;
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            let log = logs.join(format!("moto-{}-{port}.log", std::process::id()));
            let mut command = Command::new(&python);
            command
                .arg("-c")
                .arg(WRAPPER)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            match MotoServer::spawn(command, port, log).await {
                Err(EmulatorError::Exited { tail, .. })
                    if attempt < PORT_ATTEMPTS && tail.contains("Address already in use") =>
                {
                    warn!(
                        port,
                        attempt, "the free port was taken before moto bound it; retrying"
                    );
                    attempt += 1;
                }
                Err(e) => return Err(e),
                Ok(server) => {
                    info!(
                        endpoint = %server.endpoint,
                        log = %server.log.display(),
                        pid = server.child.id(),
                        millis = started.elapsed().as_millis() as u64,
                        "moto server answers"
                    );
                    return Ok(server);
                }
            }
        }
    }

    /// Starts `command` (a server that will listen on `port`) with its output in `log`, and waits
    /// until it answers HTTP.
    async fn spawn(
        mut command: Command,
        port: u16,
        log: PathBuf,
    ) -> Result<MotoServer, EmulatorError> {
        let log_err = |source| EmulatorError::Log {
            path: log.clone(),
            source,
        };
        let stdout = File::create(&log).map_err(log_err)?;
        let stderr = stdout.try_clone().map_err(log_err)?;
        command
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(stderr)
            .env("PYTHONUNBUFFERED", "1")
            .process_group(0);
        let mut child = command.spawn().map_err(|source| EmulatorError::Spawn {
            command: format!("{} -p {port}", command.get_program().to_string_lossy()),
            source,
        })?;
        let stdin = child.stdin.take();
        let server = MotoServer {
            child,
            stdin,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_until_it_answers(port).await
    }

    async fn wait_until_it_answers(mut self, port: u16) -> Result<MotoServer, EmulatorError> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(EmulatorError::Exited {
                    status,
                    tail: log_tail(&self.log, TAIL_LINES),
                    log: self.log.clone(),
                });
            }
            if answers_http(port).await {
                return Ok(self);
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                return Err(EmulatorError::Unhealthy {
                    endpoint: self.endpoint.clone(),
                    waited: STARTUP_TIMEOUT,
                    tail: log_tail(&self.log, TAIL_LINES),
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        self.endpoint.clone()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Closing the pipe makes the wrapper exit; kill it if it does not.
        drop(self.stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    warn!(
                        pid = self.child.id(),
                        "moto server did not exit; killing it"
                    );
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        info!(endpoint = %self.endpoint, log = %self.log.display(), "moto server stopped");
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> Result<u16, EmulatorError> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(EmulatorError::NoFreePort)?;
    let port = listener
        .local_addr()
        .map_err(EmulatorError::NoFreePort)?
        .port();
    Ok(port)
}

/// Whether something on `port` answers an HTTP request (any status).
async fn answers_http(port: u16) -> bool {
    let ask = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request = format!("GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).await.ok()?;
        Some(&head == b"HTTP/")
    };
    tokio::time::timeout(Duration::from_secs(2), ask)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The last `lines` lines of the log at `path` (at most the last 64 KiB of it).
fn log_tail(path: &Path, lines: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return format!("(cannot read {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(MAX)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        fs::write(&path, "one\ntwo\nthree\n").expect("write");
        assert_eq!(log_tail(&path, 2), "two\nthree");
        assert_eq!(log_tail(&path, 10), "one\ntwo\nthree");
        assert!(log_tail(&dir.path().join("missing"), 2).contains("cannot read"));
    }

    #[tokio::test]
    async fn a_server_that_exits_at_once_is_an_error_with_its_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new("sh");
        command.args(["-c", "echo 'Address family not supported' >&2; exit 3"]);
        let err = MotoServer::spawn(command, free_port().expect("port"), dir.path().join("log"))
            .await
            .expect_err("exits");
        assert!(matches!(err, EmulatorError::Exited { .. }), "{err}");
        assert!(
            err.to_string().contains("Address family not supported"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_a_server_that_waits_on_its_stdin() {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port().expect("port");
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        // Stands in for the wrapper: answers like an HTTP server, exits when stdin closes.
        let serve = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
            }
        });
        let mut command = Command::new("sh");
        command.args(["-c", "cat >/dev/null"]);
        let server = MotoServer::spawn(command, port, dir.path().join("log"))
            .await
            .expect("answers");
        let pid = server.child.id();
        let started = Instant::now();
        drop(server);
        assert!(
            started.elapsed() < STOP_TIMEOUT,
            "stopped by closing stdin, not killed"
        );
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} is gone"
        );
        serve.abort();
    }
}
