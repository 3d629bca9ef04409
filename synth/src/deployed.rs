//! The template a stack has deployed, from CloudFormation's `GetTemplate`.
//!
//! The SDK configuration is aws-config's default chain (credentials, `AWS_ENDPOINT_URL`, …) with
//! the stack's region: a stack lives in one region, which its synthesized environment names.

use anyhow::{Context, anyhow};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::diff::Base;
use crate::template_text;

/// The base of a stack: what the CloudFormation stack `name` in `region` has deployed; a stack
/// that does not exist there is new.
pub async fn base(name: &str, region: &str) -> anyhow::Result<Base> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .load()
        .await;
    let client = Client::new(&config);
    let label = format!("deployed stack {name} ({region})");
    let answer = client.get_template().stack_name(name).send().await;
    let body = match answer {
        Ok(out) => out.template_body,
        Err(e) if is_missing_stack(e.code(), e.message()) => {
            return Ok(Base {
                label: format!("{label}: not deployed, a new stack"),
                template: None,
            });
        }
        Err(e) => {
            return Err(anyhow!("{}", DisplayErrorContext(&e)))
                .with_context(|| format!("CloudFormation GetTemplate for {label}"));
        }
    };
    let template = template_from_body(body).with_context(|| format!("the template of {label}"))?;
    Ok(Base {
        label,
        template: Some(template),
    })
}

/// CloudFormation answers a stack that is not there with `ValidationError`, "Stack with id X
/// does not exist".
fn is_missing_stack(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationError") && message.is_some_and(|m| m.contains("does not exist"))
}

/// The template in a `GetTemplate` answer's `TemplateBody`: JSON or YAML text.
pub fn template_from_body(body: Option<String>) -> anyhow::Result<serde_json::Value> {
    let body = body.context("GetTemplate answered without a TemplateBody")?;
    Ok(template_text::parse(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_json_or_yaml() {
        let json = template_from_body(Some(
            "{\"Resources\": {\"T\": {\"Type\": \"AWS::SNS::Topic\"}}}".into(),
        ))
        .expect("json");
        let yaml = template_from_body(Some("Resources:\n  T:\n    Type: AWS::SNS::Topic\n".into()))
            .expect("yaml");
        assert_eq!(json, yaml);
        let err = template_from_body(None).expect_err("no body");
        assert!(err.to_string().contains("without a TemplateBody"), "{err}");
        let err = template_from_body(Some("Resources: [".into())).expect_err("bad yaml");
        assert!(
            err.downcast_ref::<template_text::TemplateTextError>()
                .is_some_and(|e| matches!(e, template_text::TemplateTextError::Yaml(_))),
            "{err:#}"
        );
    }

    #[test]
    fn a_stack_that_does_not_exist_is_new() {
        assert!(is_missing_stack(
            Some("ValidationError"),
            Some("Stack with id IOpsDashboard-CoreStack does not exist")
        ));
        assert!(!is_missing_stack(
            Some("ValidationError"),
            Some("1 validation error detected")
        ));
        assert!(!is_missing_stack(
            Some("AccessDenied"),
            Some("does not exist")
        ));
    }
}
