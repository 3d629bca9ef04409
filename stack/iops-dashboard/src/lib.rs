//! The IOps Dashboard stacks, written with `constructs`: the core pipeline stack and the
//! us-east-1 billing stack, configured from one [`Config`].

mod billing_stack;
pub mod config;
mod core_stack;
mod shared;

use std::path::PathBuf;

pub use billing_stack::{BILLING_STACK_NAME, BillingStack};
pub use config::Config;
pub use core_stack::{
    CORE_STACK_NAME, CapacityReport, CoreStack, INGEST_PACKAGE, STREAM_PROCESSOR_PACKAGE,
};
pub use shared::ALERT_EMAIL_PARAMETER;

/// Every stack of the deployment.
#[derive(Debug, Clone)]
pub struct App {
    pub core: CoreStack,
    pub billing: BillingStack,
}

impl App {
    /// Builds the stacks; function code is hashed from the crates under `workspace_root`.
    pub fn new(config: &Config, workspace_root: PathBuf) -> App {
        App {
            core: CoreStack::new(config, workspace_root),
            billing: BillingStack::new(config),
        }
    }

    /// The stacks, in deployment order.
    pub fn stacks(&self) -> [&constructs::Stack; 2] {
        [&self.core.stack, &self.billing.stack]
    }
}

/// The root of this Cargo workspace (where the function crates live), as built.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
}
