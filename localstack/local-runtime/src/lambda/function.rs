//! A function: its execution environments, the queue of invocations they share, and their logs.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::info;

use super::config::FunctionConfig;
use super::environment::{Instance, Job, drive};
use super::logs::{LogLine, Logs};
use super::{Invoke, InvokeError, MAX_PAYLOAD_BYTES};

/// Why an execution environment could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No loopback port for the runtime API.
    #[error("function {function}: cannot serve the Lambda Runtime API on a loopback port")]
    Bind {
        /// The function.
        function: String,
        /// What the socket said.
        #[source]
        source: io::Error,
    },
    /// The bootstrap did not start.
    #[error("function {function}: cannot start {}", path.display())]
    Spawn {
        /// The function.
        function: String,
        /// The bootstrap.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The log file cannot be opened.
    #[error("function {function}: cannot open the log file {}", path.display())]
    LogFile {
        /// The function.
        function: String,
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// A function running locally: [`FunctionConfig::concurrency`] execution environments taking
/// invocations from one queue. Clones share the environments. Dropping the last clone, or
/// [`Function::stop`], kills the processes.
#[derive(Debug, Clone)]
pub struct Function {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Arc<FunctionConfig>,
    jobs: mpsc::UnboundedSender<Job>,
    logs: Logs,
    stop: watch::Sender<bool>,
    drivers: Mutex<Vec<JoinHandle<()>>>,
}

impl Function {
    /// Starts the function's execution environments: each process is running, and initializes
    /// while this returns.
    pub async fn start(config: FunctionConfig) -> Result<Function, StartError> {
        let logs = Logs::new(config.log_file.as_deref()).map_err(|source| StartError::LogFile {
            function: config.name.clone(),
            path: config.log_file.clone().unwrap_or_default(),
            source,
        })?;
        let mut instances = Vec::with_capacity(config.concurrency.get());
        for _ in 0..config.concurrency.get() {
            instances.push(Instance::start(&config, &logs).await?);
        }
        let config = Arc::new(config);
        let (jobs, queue) = mpsc::unbounded_channel();
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let (stop, stop_rx) = watch::channel(false);
        let drivers = instances
            .into_iter()
            .map(|instance| {
                tokio::spawn(drive(
                    config.clone(),
                    logs.clone(),
                    queue.clone(),
                    stop_rx.clone(),
                    instance,
                ))
            })
            .collect();
        info!(function = %config.name, environments = config.concurrency.get(), "function started");
        Ok(Function {
            inner: Arc::new(Inner {
                config,
                jobs,
                logs,
                stop,
                drivers: Mutex::new(drivers),
            }),
        })
    }

    /// The function's settings.
    pub fn config(&self) -> &FunctionConfig {
        &self.inner.config
    }

    /// The function's ARN.
    pub fn arn(&self) -> String {
        self.inner.config.arn()
    }

    /// What the function's processes wrote (and Lambda's own lines, such as timeouts), oldest
    /// first; the newest [`super::MAX_LOG_LINES`] are kept.
    pub fn logs(&self) -> Vec<LogLine> {
        self.inner.logs.lines()
    }

    /// Kills the execution environments and waits for them. Invocations in flight and later ones
    /// fail with [`InvokeError::Stopped`].
    pub async fn stop(&self) {
        self.inner.stop.send_replace(true);
        let drivers = std::mem::take(
            &mut *self
                .inner
                .drivers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for driver in drivers {
            // A driver that panicked has nothing left to stop.
            let _ = driver.await;
        }
        info!(function = %self.inner.config.name, "function stopped");
    }

    async fn call(&self, payload: Value) -> Result<Value, InvokeError> {
        let stopped = || InvokeError::Stopped {
            function: self.inner.config.name.clone(),
        };
        if *self.inner.stop.borrow() {
            return Err(stopped());
        }
        let payload = Bytes::from(payload.to_string());
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(InvokeError::RequestTooLarge {
                bytes: payload.len(),
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let (reply, outcome) = oneshot::channel();
        self.inner
            .jobs
            .send(Job { payload, reply })
            .map_err(|_| stopped())?;
        // The job is dropped unanswered only when the environments stopped first.
        outcome.await.map_err(|_| stopped())?
    }
}

impl Invoke for Function {
    fn invoke(&self, payload: Value) -> impl Future<Output = Result<Value, InvokeError>> + Send {
        self.call(payload)
    }
}
