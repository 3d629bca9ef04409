//! API Gateway: a regional REST API whose methods proxy to Lambda functions, deployed to one
//! stage with metrics and throttling.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use cfn::resources::apigateway;
use cfn::{Expr, Resource};
use sha2::{Digest, Sha256};

use crate::cloudwatch::{Metric, Statistic};
use crate::core::{Finalizer, ResourceRef, Scope, Synthesis};
use crate::lambda::Function;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Delete,
}

impl HttpMethod {
    pub fn name(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RestApiProps {
    pub api_name: String,
    pub description: Option<String>,
    /// Default: `prod`.
    pub stage_name: String,
    /// Steady-state requests per second across the stage. Default: 10,000 (the account default).
    pub throttling_rate_limit: f64,
    /// Burst bucket size. Default: 5,000 (the account default).
    pub throttling_burst_limit: u32,
}

impl RestApiProps {
    pub fn new(api_name: &str) -> RestApiProps {
        RestApiProps {
            api_name: api_name.to_owned(),
            description: None,
            stage_name: "prod".into(),
            throttling_rate_limit: 10_000.0,
            throttling_burst_limit: 5_000,
        }
    }
}

#[derive(Debug, Default)]
struct ApiState {
    /// Methods and resources, whose definitions the deployment's logical ID hashes, so that a
    /// changed API is redeployed.
    members: BTreeSet<ResourceRef>,
    fingerprint: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RestApi {
    scope: Scope,
    resource: ResourceRef,
    props: RestApiProps,
    state: Rc<RefCell<ApiState>>,
}

impl RestApi {
    pub fn new(scope: &Scope, id: &str, props: RestApiProps) -> RestApi {
        let scope = scope.child(id);
        let api = apigateway::RestApi {
            name: Some(props.api_name.as_str().into()),
            description: props.description.as_deref().map(Into::into),
            endpoint_configuration: Some(
                apigateway::rest_api::EndpointConfiguration {
                    types: Some(vec!["REGIONAL"].into()),
                    ..Default::default()
                }
                .into(),
            ),
            ..apigateway::RestApi::default()
        };
        let resource = scope.add_resource(Resource::new(&api));
        let api = RestApi {
            scope: scope.clone(),
            resource,
            props,
            state: Rc::default(),
        };
        scope.add_finalizer(Rc::new(Deployment { api: api.clone() }));
        api
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    pub fn stage_name(&self) -> &str {
        &self.props.stage_name
    }

    /// The invoke URL of a path on the stage.
    pub fn url_for(&self, path: &str) -> Expr {
        Expr::sub(format!(
            "https://${{{}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{}/{}",
            self.resource.logical_id(),
            self.props.stage_name,
            path.trim_start_matches('/')
        ))
    }

    /// Adds `method /path_part` (one level below the root) proxying to `function`, and lets API
    /// Gateway invoke the function for that method and path only.
    pub fn add_lambda_proxy(&self, path_part: &str, method: HttpMethod, function: &Function) {
        let api_id = self.resource.logical_id();
        let path_scope = self.scope.child(path_part);
        let path = apigateway::Resource::new(
            self.resource.get_att("RootResourceId").value(),
            path_part,
            self.resource.r#ref().value(),
        );
        let path_ref = path_scope.add_resource(Resource::new(&path));
        let uri = Expr::sub(format!(
            "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{}.Arn}}/invocations",
            function.resource().logical_id()
        ));
        let integration = apigateway::method::Integration {
            integration_http_method: Some("POST".into()),
            uri: Some(uri.value()),
            ..apigateway::method::Integration::new("AWS_PROXY")
        };
        let m = apigateway::Method {
            authorization_type: Some("NONE".into()),
            integration: Some(integration.clone().into()),
            ..apigateway::Method::new(
                method.name(),
                path_ref.r#ref().value(),
                self.resource.r#ref().value(),
            )
        };
        let method_scope = path_scope.child(method.name());
        let method_ref = method_scope.add_resource(Resource::new(&m));
        let source = Expr::sub(format!(
            "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{api_id}}}/{}/{}/{path_part}",
            self.props.stage_name,
            method.name()
        ));
        function.grant_invoke(
            &format!("Invoke{api_id}{}{path_part}", method.name()),
            "apigateway.amazonaws.com",
            source,
        );
        let mut state = self.state.borrow_mut();
        state.members.insert(path_ref);
        state.members.insert(method_ref);
        state.fingerprint.push(format!(
            "{path_part} {} {}",
            method.name(),
            integration_fingerprint(&integration)
        ));
    }

    /// A metric of this API's stage in `AWS/ApiGateway`.
    pub fn metric(&self, name: &str, statistic: Statistic, period: Duration) -> Metric {
        Metric::new("AWS/ApiGateway", name, statistic, period)
            .literal_dimension("ApiName", &self.props.api_name)
            .literal_dimension("Stage", &self.props.stage_name)
    }
}

fn integration_fingerprint(integration: &apigateway::method::Integration) -> String {
    serde_json::to_string(integration).expect("invariant: an Integration always serializes")
}

/// Creates the deployment (named by a hash of the API's methods, so a change redeploys) and the stage.
#[derive(Debug)]
struct Deployment {
    api: RestApi,
}

impl Finalizer for Deployment {
    fn finalize(&self, synthesis: &mut Synthesis) {
        let state = self.api.state.borrow();
        if state.members.is_empty() {
            return;
        }
        let mut hasher = Sha256::new();
        for line in &state.fingerprint {
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
        let digest = hasher.finalize();
        let suffix: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let api = &self.api;
        let deployment_scope = api.scope.child("Deployment");
        let deployment = apigateway::Deployment {
            description: Some("Deployed by synth".into()),
            ..apigateway::Deployment::new(api.resource.r#ref().value())
        };
        let id = format!("{}{}", deployment_scope.logical_id(), suffix.to_uppercase());
        let mut deployment_resource = Resource::new(&deployment);
        deployment_resource.depends_on = state
            .members
            .iter()
            .map(|m| m.logical_id().to_owned())
            .collect();
        let deployment_ref = synthesis.add_resource(&deployment_scope, id, deployment_resource);

        let stage_scope = api.scope.child("Stage");
        let settings = apigateway::stage::MethodSetting {
            resource_path: Some("/*".into()),
            http_method: Some("*".into()),
            metrics_enabled: Some(true.into()),
            throttling_rate_limit: Some(api.props.throttling_rate_limit.into()),
            throttling_burst_limit: Some(i64::from(api.props.throttling_burst_limit).into()),
            ..Default::default()
        };
        let stage = apigateway::Stage {
            stage_name: Some(api.props.stage_name.as_str().into()),
            deployment_id: Some(deployment_ref.r#ref().value()),
            method_settings: Some(vec![settings].into()),
            ..apigateway::Stage::new(api.resource.r#ref().value())
        };
        let stage_id = stage_scope.logical_id();
        synthesis.add_resource(&stage_scope, stage_id, Resource::new(&stage));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::FunctionProps;
    use crate::test_support::workspace_stack;
    use serde_json::json;

    fn api_with_method() -> (crate::Stack, RestApi) {
        let s = workspace_stack();
        let f = Function::new(&s, "Ingest", FunctionProps::rust("synth"));
        let api = RestApi::new(&s, "Api", RestApiProps::new("metrics-api"));
        api.add_lambda_proxy("metrics", HttpMethod::Post, &f);
        (s, api)
    }

    #[test]
    fn a_lambda_proxy_method_is_deployed_to_its_stage() {
        let (s, api) = api_with_method();
        let t = s.synth().expect("valid");
        let method = &t.resources["ApimetricsPOST"];
        assert_eq!(method.properties["Integration"]["Type"], "AWS_PROXY");
        let deployment = t
            .resources
            .iter()
            .find(|(_, r)| r.type_name == "AWS::ApiGateway::Deployment")
            .expect("a deployment");
        assert!(deployment.1.depends_on.contains("ApimetricsPOST"));
        assert_eq!(t.resources["ApiStage"].properties["StageName"], "prod");
        assert_eq!(
            t.resources["ApiStage"].properties["DeploymentId"],
            json!({"Ref": deployment.0})
        );
        let permission = &t.resources["IngestInvokeApiPOSTmetrics"].properties;
        assert_eq!(permission["Principal"], "apigateway.amazonaws.com");
        assert_eq!(
            permission["SourceArn"]["Fn::Sub"],
            "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/prod/POST/metrics"
        );
        assert_eq!(
            api.url_for("metrics").json()["Fn::Sub"],
            "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod/metrics"
        );
    }

    #[test]
    fn the_deployment_id_changes_with_the_methods() {
        let (s, _) = api_with_method();
        let deployment_id = |t: &cfn::Template| {
            t.resources
                .iter()
                .find(|(_, r)| r.type_name == "AWS::ApiGateway::Deployment")
                .map(|(id, _)| id.clone())
        };
        let first = deployment_id(&s.synth().expect("valid"));
        assert_eq!(
            first,
            deployment_id(&s.synth().expect("valid")),
            "stable between synths"
        );

        let s2 = workspace_stack();
        let f = Function::new(&s2, "Ingest", FunctionProps::rust("synth"));
        let api = RestApi::new(&s2, "Api", RestApiProps::new("metrics-api"));
        api.add_lambda_proxy("metrics", HttpMethod::Post, &f);
        api.add_lambda_proxy("health", HttpMethod::Get, &f);
        assert_ne!(first, deployment_id(&s2.synth().expect("valid")));
    }
}
