//! LocalStack in Docker, started through testcontainers: the image pinned to the last tag that
//! starts without an account token, overridable, a token passed through when set. The container
//! is removed when the handle drops.
//!
//! Not exercised on this project's machines (they have no Docker engine); written from the
//! testcontainers-modules documentation.

use testcontainers_modules::localstack::LocalStack;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};
use tracing::info;

use crate::EmulatorError;

/// The LocalStack image, `name:tag`; [`DEFAULT_LOCALSTACK_IMAGE`] when unset.
pub const LOCALSTACK_IMAGE_ENV: &str = "LOCALSTACK_IMAGE";
/// The last LocalStack tag that starts without an account token (later ones and `latest` need one).
pub const DEFAULT_LOCALSTACK_IMAGE: &str = "localstack/localstack:4.14.0";
/// A LocalStack account token, passed to the container when set.
pub const LOCALSTACK_AUTH_TOKEN_ENV: &str = "LOCALSTACK_AUTH_TOKEN";
/// LocalStack's single port for every service (its "edge" port).
const EDGE_PORT: u16 = 4566;

/// A running LocalStack container; dropping it removes the container.
#[derive(Debug)]
pub(crate) struct LocalStackContainer {
    container: ContainerAsync<LocalStack>,
    endpoint: String,
}

/// `name:tag` split at the tag's colon (a registry host may have a port: `host:5000/image:tag`).
pub(crate) fn split_image(image: &str) -> Option<(&str, &str)> {
    let (name, tag) = image.rsplit_once(':')?;
    (!name.is_empty() && !tag.is_empty() && !tag.contains('/')).then_some((name, tag))
}

impl LocalStackContainer {
    pub(crate) async fn start() -> Result<LocalStackContainer, EmulatorError> {
        let image = std::env::var(LOCALSTACK_IMAGE_ENV)
            .ok()
            .filter(|i| !i.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_LOCALSTACK_IMAGE.to_owned());
        let (name, tag) = split_image(&image).ok_or_else(|| EmulatorError::InvalidImage {
            value: image.clone(),
        })?;
        info!(%image, "starting LocalStack (the image is pulled on first use)");
        let mut request = LocalStack::default().with_name(name).with_tag(tag);
        if let Some(token) = std::env::var(LOCALSTACK_AUTH_TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
        {
            request = request.with_env_var(LOCALSTACK_AUTH_TOKEN_ENV, token);
        }
        let container = request
            .start()
            .await
            .map_err(|source| EmulatorError::LocalStack {
                image: image.clone(),
                source: Box::new(source),
            })?;
        let host = container
            .get_host()
            .await
            .map_err(|source| EmulatorError::LocalStack {
                image: image.clone(),
                source: Box::new(source),
            })?;
        let port = container
            .get_host_port_ipv4(EDGE_PORT)
            .await
            .map_err(|source| EmulatorError::LocalStack {
                image: image.clone(),
                source: Box::new(source),
            })?;
        let endpoint = format!("http://{host}:{port}");
        info!(%image, %endpoint, container = container.id(), "LocalStack answers");
        Ok(LocalStackContainer {
            container,
            endpoint,
        })
    }

    pub(crate) fn endpoint(&self) -> String {
        self.endpoint.clone()
    }
}

impl Drop for LocalStackContainer {
    fn drop(&mut self) {
        info!(container = self.container.id(), endpoint = %self.endpoint, "removing LocalStack");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_into_name_and_tag() {
        assert_eq!(
            split_image(DEFAULT_LOCALSTACK_IMAGE),
            Some(("localstack/localstack", "4.14.0"))
        );
        assert_eq!(
            split_image("registry:5000/localstack/localstack:4.14.0"),
            Some(("registry:5000/localstack/localstack", "4.14.0"))
        );
        assert_eq!(split_image("registry:5000/localstack"), None, "no tag");
        assert_eq!(split_image("localstack/localstack"), None, "no tag");
        assert_eq!(split_image(":4.14.0"), None);
    }
}
