//! A template deployed through the emulator's CloudFormation API: CreateStack, a bounded wait,
//! the outputs, and the physical ID of each logical ID.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, OnFailure, Parameter, StackStatus};
use serde_json::Value;
use tracing::{debug, info};

use crate::DeployError;
use crate::resolve::{DeployedResource, StackContext};

/// How long a stack may take to create (moto: about a second; LocalStack: tens of seconds).
pub const STACK_TIMEOUT: Duration = Duration::from_secs(600);
/// How often a stack being created is asked for its status, at most.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A stack as CloudFormation reports it once created.
#[derive(Debug, Clone)]
pub struct CreatedStack {
    pub context: StackContext,
    /// The outputs the backend reported, by key.
    pub outputs: BTreeMap<String, String>,
}

/// Maps an SDK error of `operation` on `target` into a [`DeployError::Api`].
pub(crate) fn api<E>(
    operation: &'static str,
    target: &str,
) -> impl FnOnce(E) -> DeployError + use<E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let target = target.to_owned();
    move |source| DeployError::Api {
        operation,
        target,
        source: Box::new(source),
    }
}

/// Creates the stack `stack_name` from `template` with `parameters`, waits until it is created,
/// and reads its outputs and resources.
pub async fn create_stack(
    cloudformation: &Client,
    region: &str,
    stack_name: &str,
    template: &Value,
    parameters: &BTreeMap<String, String>,
) -> Result<CreatedStack, DeployError> {
    let started = Instant::now();
    let created = cloudformation
        .create_stack()
        .stack_name(stack_name)
        .template_body(template.to_string())
        .set_parameters(Some(
            parameters
                .iter()
                .map(|(k, v)| {
                    Parameter::builder()
                        .parameter_key(k)
                        .parameter_value(v)
                        .build()
                })
                .collect(),
        ))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        // Keep what was made, so a failure can be looked at; the emulator goes away anyway.
        .on_failure(OnFailure::DoNothing)
        .send()
        .await
        .map_err(api("CreateStack", stack_name))?;
    let stack_id = created.stack_id().unwrap_or(stack_name).to_owned();
    let stack = wait_until_created(cloudformation, stack_name).await?;
    info!(
        stack = stack_name,
        millis = started.elapsed().as_millis() as u64,
        "stack created"
    );

    let outputs = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect();
    let stack_id = stack.stack_id().unwrap_or(&stack_id).to_owned();
    // arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID
    let arn: Vec<&str> = stack_id.split(':').collect();
    let partition = arn.get(1).copied().unwrap_or("aws").to_owned();
    let account = arn.get(4).copied().unwrap_or_default().to_owned();
    let resources = list_resources(cloudformation, stack_name).await?;
    Ok(CreatedStack {
        context: StackContext {
            stack_name: stack_name.to_owned(),
            stack_id,
            region: region.to_owned(),
            account,
            partition,
            parameters: parameters.clone(),
            resources,
        },
        outputs,
    })
}

async fn wait_until_created(
    cloudformation: &Client,
    stack_name: &str,
) -> Result<aws_sdk_cloudformation::types::Stack, DeployError> {
    let started = Instant::now();
    let mut interval = Duration::from_millis(100);
    loop {
        let described = cloudformation
            .describe_stacks()
            .stack_name(stack_name)
            .send()
            .await
            .map_err(api("DescribeStacks", stack_name))?;
        let stack =
            described
                .stacks()
                .first()
                .cloned()
                .ok_or_else(|| DeployError::StackMissing {
                    stack: stack_name.to_owned(),
                })?;
        let status = stack.stack_status().cloned();
        debug!(stack = stack_name, status = ?status, "stack status");
        match status {
            Some(StackStatus::CreateComplete) => return Ok(stack),
            Some(StackStatus::CreateInProgress) | None => {}
            Some(other) => {
                return Err(DeployError::StackFailed {
                    stack: stack_name.to_owned(),
                    status: other.as_str().to_owned(),
                    reasons: failure_reasons(cloudformation, stack_name, &stack).await,
                });
            }
        }
        if started.elapsed() > STACK_TIMEOUT {
            return Err(DeployError::StackTimeout {
                stack: stack_name.to_owned(),
                waited: STACK_TIMEOUT,
            });
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    }
}

/// Why the stack failed: its status reason and every failed resource event, as
/// `LogicalId (Type): reason`.
async fn failure_reasons(
    cloudformation: &Client,
    stack_name: &str,
    stack: &aws_sdk_cloudformation::types::Stack,
) -> String {
    let mut reasons: Vec<String> = stack
        .stack_status_reason()
        .map(str::to_owned)
        .into_iter()
        .collect();
    match cloudformation
        .describe_stack_events()
        .stack_name(stack_name)
        .send()
        .await
    {
        Ok(events) => {
            // Newest first: report in the order things happened.
            for event in events.stack_events().iter().rev() {
                let failed = event
                    .resource_status()
                    .is_some_and(|s| s.as_str().ends_with("_FAILED"));
                if failed {
                    reasons.push(format!(
                        "{} ({}): {}",
                        event.logical_resource_id().unwrap_or("?"),
                        event.resource_type().unwrap_or("?"),
                        event.resource_status_reason().unwrap_or("no reason given")
                    ));
                }
            }
        }
        Err(e) => reasons.push(format!(
            "(the stack events could not be read: {})",
            aws_sdk_cloudformation::error::DisplayErrorContext(e)
        )),
    }
    if reasons.is_empty() {
        "no reason given".to_owned()
    } else {
        reasons.join("; ")
    }
}

/// Logical ID → type and physical ID, for every resource the stack lists. A resource the backend
/// skipped is not listed (moto lists it with an empty logical ID).
async fn list_resources(
    cloudformation: &Client,
    stack_name: &str,
) -> Result<BTreeMap<String, DeployedResource>, DeployError> {
    let mut resources = BTreeMap::new();
    let mut pages = cloudformation
        .list_stack_resources()
        .stack_name(stack_name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(api("ListStackResources", stack_name))?;
        for summary in page.stack_resource_summaries() {
            let (Some(logical_id), Some(resource_type)) =
                (summary.logical_resource_id(), summary.resource_type())
            else {
                continue;
            };
            if logical_id.is_empty() {
                continue;
            }
            resources.insert(
                logical_id.to_owned(),
                DeployedResource {
                    resource_type: resource_type.to_owned(),
                    physical_id: summary
                        .physical_resource_id()
                        .filter(|id| !id.is_empty())
                        .map(str::to_owned),
                },
            );
        }
    }
    Ok(resources)
}
