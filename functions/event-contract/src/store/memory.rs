//! An in-memory metrics table that follows a script: for the functions' tests and benchmarks.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{EventStore, Item, MAX_BATCH_ITEMS, StoreError};
use crate::item::item_key;

/// What the table does with one `BatchWriteItem` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Store every item.
    Accept,
    /// Leave the first `n` items of the call unprocessed and store the rest.
    LeaveUnprocessed(usize),
    /// Fail the whole call, storing nothing.
    Fail {
        /// Whether the failure is worth retrying.
        retryable: bool,
    },
    /// Answer only after this long (on tokio's clock), then store every item.
    Stall(Duration),
}

/// A metrics table in memory. Call `n` follows `script[n]`, and the last entry repeats (an
/// empty script accepts everything). Checks what DynamoDB checks: at most 25 items per call,
/// no key twice in one call, every item keyed.
#[derive(Debug, Default)]
pub struct MemoryTable {
    script: Vec<Behaviour>,
    calls: Mutex<Vec<Vec<String>>>,
    items: Mutex<HashMap<String, Item>>,
}

impl MemoryTable {
    /// A table following `script`.
    pub fn new(script: Vec<Behaviour>) -> Self {
        MemoryTable {
            script,
            ..MemoryTable::default()
        }
    }

    /// A table that stores everything.
    pub fn accepting() -> Self {
        MemoryTable::default()
    }

    /// The keys of each call so far, in order.
    pub fn calls(&self) -> Vec<Vec<String>> {
        lock(&self.calls).clone()
    }

    /// Every item stored, by key.
    pub fn items(&self) -> HashMap<String, Item> {
        lock(&self.items).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EventStore for MemoryTable {
    async fn batch_write(&self, batch: &[Item]) -> Result<Vec<Item>, StoreError> {
        let keys: Vec<String> = batch
            .iter()
            .filter_map(item_key)
            .map(str::to_owned)
            .collect();
        if keys.len() != batch.len() {
            return Err(StoreError::permanent("an item has no partition key"));
        }
        if batch.is_empty() || batch.len() > MAX_BATCH_ITEMS {
            return Err(StoreError::permanent(format!(
                "{} items in one call",
                batch.len()
            )));
        }
        let mut distinct = keys.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != keys.len() {
            return Err(StoreError::permanent(
                "provided list of item keys contains duplicates",
            ));
        }
        let behaviour = {
            let mut calls = lock(&self.calls);
            calls.push(keys);
            let n = calls.len() - 1;
            self.script
                .get(n)
                .or(self.script.last())
                .cloned()
                .unwrap_or(Behaviour::Accept)
        };
        let (unprocessed, written) = match behaviour {
            Behaviour::Accept => (&batch[..0], batch),
            Behaviour::Stall(wait) => {
                tokio::time::sleep(wait).await;
                (&batch[..0], batch)
            }
            Behaviour::LeaveUnprocessed(n) => batch.split_at(n.min(batch.len())),
            Behaviour::Fail { retryable: true } => {
                return Err(StoreError::retryable("injected throttling"));
            }
            Behaviour::Fail { retryable: false } => {
                return Err(StoreError::permanent("injected refusal"));
            }
        };
        let mut items = lock(&self.items);
        for item in written {
            if let Some(key) = item_key(item) {
                items.insert(key.to_owned(), item.clone());
            }
        }
        Ok(unprocessed.to_vec())
    }
}
