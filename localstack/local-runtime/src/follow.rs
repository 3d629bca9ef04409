//! Following a stream as AWS's consumers do: each shard read in its own task, one `GetRecords`
//! per shard per interval, up to 10,000 records a call; when a shard closes (resharding) and is
//! read to its end, its children are read from their start, a child only once every parent it
//! has among the shards followed is finished — so the records of one partition key stay in order.
//!
//! At start, with `LATEST` the open shards are read; otherwise the shards without a parent in
//! the stream, their descendants after them.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kinesis::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::retry::{Backoff, sleep_or_stop};
use crate::stream::{
    ChildShard, Read, ShardReader, StartingPosition, StreamArn, StreamError, StreamRecord,
    list_shards,
};

/// What a consumer does with the records read from a shard, in order. `false` stops the
/// shard's reading (a stop came).
pub(crate) trait ShardConsumer: Send + Sync + 'static {
    fn consume<'a>(
        &'a self,
        shard_id: &'a str,
        records: Vec<StreamRecord>,
        stop: &'a mut watch::Receiver<bool>,
    ) -> impl Future<Output = bool> + Send + 'a;
}

/// How the shards are read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reading {
    pub(crate) start: StartingPosition,
    /// At most one `GetRecords` per shard per interval.
    pub(crate) interval: Duration,
    /// Records per `GetRecords` at most.
    pub(crate) limit: u32,
}

/// Which shards have been started and finished.
#[derive(Debug, Default)]
struct Lineage {
    started: HashSet<String>,
    finished: HashSet<String>,
}

impl Lineage {
    /// Marks `shard` finished; the children to read now.
    fn finish(&mut self, shard: &str, children: &[ChildShard]) -> Vec<String> {
        self.finished.insert(shard.to_owned());
        let mut ready = Vec::new();
        for child in children {
            // A parent never started is not followed (it was closed before we began): it does
            // not hold the child back.
            let parents_done = child
                .parents
                .iter()
                .all(|p| self.finished.contains(p) || !self.started.contains(p));
            if parents_done && self.started.insert(child.id.clone()) {
                ready.push(child.id.clone());
            }
        }
        ready
    }
}

struct Shared<C> {
    client: Client,
    stream: StreamArn,
    reading: Reading,
    consumer: Arc<C>,
    lineage: Mutex<Lineage>,
    tasks: Tasks,
    stop: watch::Receiver<bool>,
}

/// The shards' tasks, those started after a resharding too.
type Tasks = Arc<Mutex<Vec<JoinHandle<()>>>>;

/// A stream being followed; [`Follower::stop`] ends every shard's reading.
#[derive(Debug)]
pub(crate) struct Follower {
    stop: watch::Sender<bool>,
    tasks: Tasks,
    shards: usize,
}

impl Follower {
    /// Positions the first shards (before this returns: with `LATEST`, records put afterwards
    /// are read) and starts reading them.
    pub(crate) async fn start<C: ShardConsumer>(
        client: Client,
        stream: StreamArn,
        reading: Reading,
        consumer: Arc<C>,
    ) -> Result<Follower, StreamError> {
        let shards = list_shards(&client, &stream).await?;
        let listed: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
        let first: Vec<&str> = shards
            .iter()
            .filter(|s| match reading.start {
                StartingPosition::Latest => s.open,
                _ => s.parents.iter().all(|p| !listed.contains(p.as_str())),
            })
            .map(|s| s.id.as_str())
            .collect();
        let mut readers = Vec::new();
        for id in &first {
            readers.push(
                ShardReader::open(
                    client.clone(),
                    stream.clone(),
                    (*id).to_owned(),
                    reading.start,
                    reading.interval,
                )
                .await?,
            );
        }
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            client,
            stream,
            reading,
            consumer,
            lineage: Mutex::new(Lineage {
                started: first.iter().map(|s| (*s).to_owned()).collect(),
                finished: HashSet::new(),
            }),
            tasks: Tasks::default(),
            stop: stop_rx,
        });
        let count = readers.len();
        for reader in readers {
            spawn(&shared, reader);
        }
        Ok(Follower {
            stop,
            tasks: shared.tasks.clone(),
            shards: count,
        })
    }

    /// The shards read from the start.
    pub(crate) fn first_shards(&self) -> usize {
        self.shards
    }

    /// Stops reading and waits for every shard's task, those started after a resharding too;
    /// a consumer's work in flight finishes.
    pub(crate) async fn stop(self) {
        self.stop.send_replace(true);
        loop {
            let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
            if tasks.is_empty() {
                return;
            }
            for task in tasks {
                // A task that panicked has nothing left to stop.
                let _ = task.await;
            }
        }
    }
}

fn spawn<C: ShardConsumer>(shared: &Arc<Shared<C>>, reader: ShardReader) {
    let task = tokio::spawn(follow_shard(shared.clone(), reader));
    shared
        .tasks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(task);
}

/// Reads one shard to its end (or a stop), then starts the children it made ready. Boxed: it
/// spawns itself for the children.
fn follow_shard<C: ShardConsumer>(
    shared: Arc<Shared<C>>,
    mut reader: ShardReader,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let mut stop = shared.stop.clone();
        let children = loop {
            match reader.read(shared.reading.limit, &mut stop).await {
                Read::Records(records) if records.is_empty() => {}
                Read::Records(records) => {
                    if !shared
                        .consumer
                        .consume(reader.shard_id(), records, &mut stop)
                        .await
                    {
                        return;
                    }
                }
                Read::Stopped => return,
                Read::Closed(children) => break children,
            }
        };
        let ready = shared
            .lineage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finish(reader.shard_id(), &children);
        info!(
            stream = %shared.stream,
            shard = reader.shard_id(),
            children = ?ready,
            "shard read to its end"
        );
        for child in ready {
            let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
            loop {
                match ShardReader::open(
                    shared.client.clone(),
                    shared.stream.clone(),
                    child.clone(),
                    StartingPosition::TrimHorizon,
                    shared.reading.interval,
                )
                .await
                {
                    Ok(child_reader) => {
                        spawn(&shared, child_reader);
                        break;
                    }
                    Err(error) => {
                        warn!(%error, shard = %child, "cannot position the child shard's reader, retrying");
                        if sleep_or_stop(backoff.next_delay(), &mut stop).await {
                            return;
                        }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(id: &str, parents: &[&str]) -> ChildShard {
        ChildShard {
            id: id.to_owned(),
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn a_merged_child_waits_for_both_parents_and_starts_once() {
        let mut lineage = Lineage {
            started: ["a", "b"].map(str::to_owned).into(),
            finished: HashSet::new(),
        };
        let merged = [child("c", &["a", "b"])];
        assert!(lineage.finish("a", &merged).is_empty(), "b is still read");
        assert_eq!(lineage.finish("b", &merged), ["c"]);
        assert!(lineage.finish("b", &merged).is_empty(), "started already");
    }

    #[test]
    fn split_children_start_together_and_unfollowed_parents_do_not_hold_them() {
        let mut lineage = Lineage {
            started: ["a"].map(str::to_owned).into(),
            finished: HashSet::new(),
        };
        let split = [child("b", &["a"]), child("c", &["a", "z"])];
        assert_eq!(lineage.finish("a", &split), ["b", "c"]);
    }
}
