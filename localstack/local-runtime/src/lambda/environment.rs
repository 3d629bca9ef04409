//! One execution environment: a process of the function's `bootstrap` and the runtime API it
//! polls, running one invocation at a time and started again after a timeout or a crash.

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use chrono::Utc;
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::time::{sleep, sleep_until};
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::InvokeError;
use super::config::FunctionConfig;
use super::function::StartError;
use super::logs::{LogStream, Logs};
use super::runtime_api::{ErrorBody, Invocation, Outcome, RuntimeApi};
use crate::retry::stopped;

/// How long an on-demand environment may take to initialize, i.e. to ask for its first
/// invocation, as on Lambda.
pub(super) const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// An invocation waiting for an environment.
#[derive(Debug)]
pub(super) struct Job {
    /// The event, serialized.
    pub(super) payload: Bytes,
    /// Where the outcome goes.
    pub(super) reply: oneshot::Sender<Result<Value, InvokeError>>,
}

/// The invocations of a function, shared by its environments.
pub(super) type Jobs = Arc<Mutex<mpsc::UnboundedReceiver<Job>>>;

/// A running process of the bootstrap and its runtime API.
#[derive(Debug)]
pub(super) struct Instance {
    child: Child,
    api: RuntimeApi,
}

/// Whether an environment can take the next invocation after this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Keep,
    Restart,
}

impl Instance {
    /// Serves a runtime API and starts the bootstrap against it.
    pub(super) async fn start(
        config: &FunctionConfig,
        logs: &Logs,
    ) -> Result<Instance, StartError> {
        let api = RuntimeApi::serve(config.arn(), config.timeout)
            .await
            .map_err(|source| StartError::Bind {
                function: config.name.clone(),
                source,
            })?;
        let log_stream = format!(
            "{}/[$LATEST]{}",
            Utc::now().format("%Y/%m/%d"),
            Uuid::new_v4().simple()
        );
        let mut command = Command::new(&config.bootstrap);
        command
            .env_clear()
            .envs(config.process_environment(api.addr(), &log_stream))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(task_root) = config
            .bootstrap
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            command.current_dir(task_root);
        }
        let mut child = command.spawn().map_err(|source| StartError::Spawn {
            function: config.name.clone(),
            path: config.bootstrap.clone(),
            source,
        })?;
        if let Some(stdout) = child.stdout.take() {
            logs.capture(stdout, LogStream::Stdout);
        }
        if let Some(stderr) = child.stderr.take() {
            logs.capture(stderr, LogStream::Stderr);
        }
        info!(function = %config.name, pid = child.id(), runtime_api = %api.addr(), "execution environment started");
        Ok(Instance { child, api })
    }

    /// Whether the process has exited (between invocations, say).
    fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the process and waits for it.
    async fn kill(mut self) {
        if let Err(error) = self.child.kill().await {
            debug!(%error, "the runtime process was already gone");
        }
    }

    /// Runs one invocation to its outcome.
    async fn run(
        &mut self,
        config: &FunctionConfig,
        logs: &Logs,
        payload: Bytes,
        stop: &mut watch::Receiver<bool>,
    ) -> (Result<Value, InvokeError>, After) {
        let request_id = Uuid::new_v4().to_string();
        let (dispatched_tx, dispatched_rx) = oneshot::channel();
        let (outcome_tx, outcome_rx) = oneshot::channel();
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
            dispatched: dispatched_tx,
            outcome: outcome_tx,
        };
        if self.api.offer(invocation).await.is_err() {
            return (Err(lost(&request_id)), After::Restart);
        }
        let started = tokio::select! {
            biased;
            at = dispatched_rx => match at {
                Ok(at) => at,
                Err(_) => return (Err(lost(&request_id)), After::Restart),
            },
            error = &mut self.api.init_error => return (Err(init_failed(error.ok())), After::Restart),
            status = self.child.wait() => return (Err(exited(logs, &request_id, status)), After::Restart),
            () = sleep(INIT_TIMEOUT) => {
                return (Err(timed_out(logs, &request_id, INIT_TIMEOUT)), After::Restart);
            }
            () = stopped(stop) => return (Err(stopped_error(config)), After::Restart),
        };
        tokio::select! {
            biased;
            outcome = outcome_rx => match outcome {
                Ok(Outcome::Response(bytes)) => (Ok(parse_response(&bytes)), After::Keep),
                Ok(Outcome::Error(error)) => (
                    Err(InvokeError::function(error.error_type, error.error_message)),
                    After::Keep,
                ),
                Err(_) => (Err(lost(&request_id)), After::Restart),
            },
            error = &mut self.api.init_error => (Err(init_failed(error.ok())), After::Restart),
            status = self.child.wait() => (Err(exited(logs, &request_id, status)), After::Restart),
            () = sleep_until(started + config.timeout) => {
                (Err(timed_out(logs, &request_id, config.timeout)), After::Restart)
            }
            () = stopped(stop) => (Err(stopped_error(config)), After::Restart),
        }
    }
}

/// Serves the function's invocations in one environment until the function stops, starting
/// the environment again whenever an invocation leaves it unusable.
pub(super) async fn drive(
    config: Arc<FunctionConfig>,
    logs: Logs,
    jobs: Jobs,
    mut stop: watch::Receiver<bool>,
    first: Instance,
) {
    let mut instance = Some(first);
    loop {
        let job = tokio::select! {
            biased;
            () = stopped(&mut stop) => None,
            job = async { jobs.lock().await.recv().await } => job,
        };
        let Some(job) = job else { break };
        if instance.as_mut().is_some_and(Instance::has_exited) {
            warn!(function = %config.name, "the runtime exited between invocations, starting it again");
            instance = None;
        }
        let mut current = match instance.take() {
            Some(current) => current,
            None => match Instance::start(&config, &logs).await {
                Ok(started) => started,
                Err(error) => {
                    let _ = job.reply.send(Err(InvokeError::Environment(error)));
                    continue;
                }
            },
        };
        let (result, after) = current.run(&config, &logs, job.payload, &mut stop).await;
        // The caller may have gone away; the outcome is then nobody's.
        let _ = job.reply.send(result);
        if after == After::Keep {
            instance = Some(current);
            continue;
        }
        current.kill().await;
        if *stop.borrow() {
            break;
        }
        instance = match Instance::start(&config, &logs).await {
            Ok(started) => Some(started),
            Err(error) => {
                warn!(function = %config.name, %error, "cannot start the execution environment again, trying at the next invocation");
                None
            }
        };
    }
    if let Some(instance) = instance {
        instance.kill().await;
    }
}

/// The response as JSON; a response that is not JSON as a JSON string of its text.
fn parse_response(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn init_failed(error: Option<ErrorBody>) -> InvokeError {
    let error = error.unwrap_or_default();
    let error_type = if error.error_type.is_empty() {
        "Runtime.InitError".to_owned()
    } else {
        error.error_type
    };
    InvokeError::function(error_type, error.error_message)
}

fn exited(logs: &Logs, request_id: &str, status: std::io::Result<ExitStatus>) -> InvokeError {
    let how = match status {
        Ok(status) => match status.code() {
            Some(code) => format!("exit status {code}"),
            None => status.to_string(),
        },
        Err(error) => format!("unknown exit ({error})"),
    };
    let message = format!("RequestId: {request_id} Error: Runtime exited with error: {how}");
    logs.push(LogStream::Platform, message.clone());
    InvokeError::function("Runtime.ExitError", message)
}

fn timed_out(logs: &Logs, request_id: &str, after: Duration) -> InvokeError {
    let seconds = after.as_secs_f64();
    logs.push(
        LogStream::Platform,
        format!(
            "{} {request_id} Task timed out after {seconds:.2} seconds",
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ),
    );
    InvokeError::function(
        "Sandbox.Timedout",
        format!("RequestId: {request_id} Error: Task timed out after {seconds:.2} seconds"),
    )
}

fn lost(request_id: &str) -> InvokeError {
    InvokeError::function(
        "Runtime.Unknown",
        format!("RequestId: {request_id} Error: the runtime API of the environment stopped"),
    )
}

fn stopped_error(config: &FunctionConfig) -> InvokeError {
    InvokeError::Stopped {
        function: config.name.clone(),
    }
}
