//! The Lambda code packages, uploaded where the template says (`Code.S3Bucket`/`Code.S3Key`),
//! before the stack is created: a real CloudFormation reads them when it creates the functions.

use std::collections::BTreeMap;
use std::path::Path;

use constructs::assets::Asset;
use serde_json::Value;
use tracing::info;

use crate::DeployError;
use crate::deploy::api;
use crate::resolve::StackContext;

/// The binary that becomes each function's `bootstrap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionCode {
    /// The binaries, by the S3 key of the function's code (`assets/<hash>.zip`).
    Binaries(BTreeMap<String, Vec<u8>>),
    /// A stand-in for every function, for a deploy whose functions are never run by the backend.
    Placeholder,
}

/// The stand-in `bootstrap`: it says what it is and fails.
pub const PLACEHOLDER_BOOTSTRAP: &[u8] =
    b"#!/bin/sh\necho 'placeholder bootstrap: this deploy carries no function code' >&2\nexit 1\n";

impl FunctionCode {
    /// The host builds of `assets` (e.g. `cargo build -p ingest -p stream-processor`), read from
    /// `dir` (e.g. `target/debug`) by binary name.
    pub fn host_binaries(assets: &[Asset], dir: &Path) -> Result<FunctionCode, DeployError> {
        let mut binaries = BTreeMap::new();
        for asset in assets {
            let path = dir.join(&asset.binary);
            let bytes = std::fs::read(&path).map_err(|source| DeployError::Binary {
                path: path.clone(),
                source,
            })?;
            binaries.insert(asset.key.clone(), bytes);
        }
        Ok(FunctionCode::Binaries(binaries))
    }

    fn binary(&self, key: &str) -> Option<&[u8]> {
        match self {
            FunctionCode::Binaries(binaries) => binaries.get(key).map(Vec::as_slice),
            FunctionCode::Placeholder => Some(PLACEHOLDER_BOOTSTRAP),
        }
    }
}

/// Where a function's code goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CodeObject {
    pub function: String,
    pub bucket: String,
    pub key: String,
}

/// The S3 location of every `AWS::Lambda::Function`'s code in `template`, resolved with the
/// stack's parameters.
pub fn code_objects(
    template: &Value,
    context: &StackContext,
) -> Result<Vec<CodeObject>, DeployError> {
    let mut objects = Vec::new();
    for (logical_id, resource) in template["Resources"].as_object().into_iter().flatten() {
        if resource["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let code = &resource["Properties"]["Code"];
        if code.get("S3Key").is_none() {
            continue;
        }
        let location = |field: &str| {
            context
                .resolve_string(&code[field])
                .map_err(|source| DeployError::CodeLocation {
                    function: logical_id.clone(),
                    source,
                })
        };
        objects.push(CodeObject {
            function: logical_id.clone(),
            bucket: location("S3Bucket")?,
            key: location("S3Key")?,
        });
    }
    Ok(objects)
}

/// Creates each code bucket (if it is not there yet) and puts each function's zip into it.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    region: &str,
    objects: &[CodeObject],
    code: &FunctionCode,
) -> Result<(), DeployError> {
    let scratch = tempfile::tempdir().map_err(|source| DeployError::Scratch { source })?;
    let mut buckets: Vec<&str> = objects.iter().map(|o| o.bucket.as_str()).collect();
    buckets.sort_unstable();
    buckets.dedup();
    for bucket in buckets {
        create_bucket(s3, region, bucket).await?;
    }
    for object in objects {
        let binary = code
            .binary(&object.key)
            .ok_or_else(|| DeployError::NoCode {
                function: object.function.clone(),
                bucket: object.bucket.clone(),
                key: object.key.clone(),
            })?;
        let path = scratch.path().join(format!("{}.zip", object.function));
        synth::package::zip_bootstrap(binary, &path).map_err(|source| DeployError::Zip {
            function: object.function.clone(),
            source,
        })?;
        let zip = std::fs::read(&path).map_err(|source| DeployError::Binary {
            path: path.clone(),
            source,
        })?;
        let bytes = zip.len();
        s3.put_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .body(zip.into())
            .send()
            .await
            .map_err(api(
                "PutObject",
                &format!("s3://{}/{}", object.bucket, object.key),
            ))?;
        info!(
            function = %object.function,
            bucket = %object.bucket,
            key = %object.key,
            bytes,
            "function code uploaded"
        );
    }
    Ok(())
}

async fn create_bucket(
    s3: &aws_sdk_s3::Client,
    region: &str,
    bucket: &str,
) -> Result<(), DeployError> {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let mut request = s3.create_bucket().bucket(bucket);
    // us-east-1 is the one region that takes no location constraint.
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match request.send().await {
        Ok(_) => {
            info!(bucket, "code bucket created");
            Ok(())
        }
        Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
        Err(e) => Err(api("CreateBucket", bucket)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn code_locations_come_from_the_template_and_its_parameters() {
        let template = json!({"Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "Code": {"S3Bucket": {"Ref": "AssetsBucketName"}, "S3Key": "assets/abc.zip"}}},
            "Inline": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"ZipFile": "x"}}},
            "Other": {"Type": "AWS::SQS::Queue"}
        }});
        let context = StackContext::before_deploy(
            "s",
            "us-east-2",
            BTreeMap::from([("AssetsBucketName".into(), "assets-bucket".into())]),
        );
        assert_eq!(
            code_objects(&template, &context).expect("resolves"),
            [CodeObject {
                function: "Fn".into(),
                bucket: "assets-bucket".into(),
                key: "assets/abc.zip".into()
            }]
        );
        let missing = StackContext::before_deploy("s", "us-east-2", BTreeMap::new());
        assert!(matches!(
            code_objects(&template, &missing),
            Err(DeployError::CodeLocation { .. })
        ));
    }

    #[test]
    fn binaries_are_found_by_key_and_the_placeholder_fits_all() {
        let code = FunctionCode::Binaries(BTreeMap::from([("k".into(), b"elf".to_vec())]));
        assert_eq!(code.binary("k"), Some(&b"elf"[..]));
        assert_eq!(code.binary("other"), None);
        assert_eq!(
            FunctionCode::Placeholder.binary("any"),
            Some(PLACEHOLDER_BOOTSTRAP)
        );
    }

    #[test]
    fn a_missing_host_binary_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let asset = Asset {
            package: "ingest".into(),
            binary: "ingest".into(),
            architecture: constructs::assets::Architecture::X86_64,
            target: "x86_64-unknown-linux-musl",
            hash: "abc".into(),
            key: "assets/abc.zip".into(),
        };
        let err = FunctionCode::host_binaries(std::slice::from_ref(&asset), dir.path())
            .expect_err("no binary");
        assert!(
            matches!(&err, DeployError::Binary { path, .. } if path.ends_with("ingest")),
            "{err}"
        );
        std::fs::write(dir.path().join("ingest"), b"elf").expect("write");
        let code = FunctionCode::host_binaries(&[asset], dir.path()).expect("found");
        assert_eq!(code.binary("assets/abc.zip"), Some(&b"elf"[..]));
    }
}
