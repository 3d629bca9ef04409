//! Properties of resources the backend created but ignored (bucket lifecycle, public access block
//! and ownership, stream encryption, point-in-time recovery, key policy): each read back from its
//! service, applied when it is not there.

use super::props::{found, same_document};
use super::{FillError, Filler};

impl Filler<'_> {
    /// The physical ID of the resource whose properties these are.
    fn physical_id(&self) -> Result<&str, FillError> {
        let logical_id = &self.props.logical_id;
        self.context.physical_id(logical_id).map_err(|source| {
            FillError::from(crate::props::PropertyError::Resolve {
                logical_id: logical_id.clone(),
                source,
            })
        })
    }

    /// `LifecycleConfiguration`, `PublicAccessBlockConfiguration`, `OwnershipControls`.
    pub(super) async fn bucket_properties(&self) -> Result<Vec<&'static str>, FillError> {
        use aws_sdk_s3::types::{
            AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
            LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
            ObjectOwnership, OwnershipControls, OwnershipControlsRule,
            PublicAccessBlockConfiguration, Transition, TransitionStorageClass,
        };
        let p = self.props;
        let bucket = self.physical_id()?;
        let s3 = &self.clients.s3;
        let mut applied = Vec::new();

        if let Some(lifecycle) = p.child("LifecycleConfiguration")? {
            lifecycle.only(&["Rules"])?;
            let current = found(
                p,
                "GetBucketLifecycleConfiguration",
                s3.get_bucket_lifecycle_configuration()
                    .bucket(bucket)
                    .send()
                    .await,
                &["NoSuchLifecycleConfiguration"],
            )?;
            if current.is_none() {
                let mut rules = Vec::new();
                for rule in lifecycle.children("Rules")? {
                    rule.only(&[
                        "Id",
                        "Status",
                        "Prefix",
                        "ExpirationInDays",
                        "Transitions",
                        "AbortIncompleteMultipartUpload",
                        "NoncurrentVersionExpirationInDays",
                    ])?;
                    let mut transitions = Vec::new();
                    for t in rule.children("Transitions")? {
                        t.only(&["StorageClass", "TransitionInDays"])?;
                        transitions.push(
                            Transition::builder()
                                .set_days(t.i32("TransitionInDays")?)
                                .set_storage_class(
                                    t.str("StorageClass")?
                                        .map(|s| TransitionStorageClass::from(s.as_str())),
                                )
                                .build(),
                        );
                    }
                    let abort = match rule.child("AbortIncompleteMultipartUpload")? {
                        Some(a) => {
                            a.only(&["DaysAfterInitiation"])?;
                            Some(
                                AbortIncompleteMultipartUpload::builder()
                                    .set_days_after_initiation(a.i32("DaysAfterInitiation")?)
                                    .build(),
                            )
                        }
                        None => None,
                    };
                    let built = LifecycleRule::builder()
                        .set_id(rule.str("Id")?)
                        .status(ExpirationStatus::from(
                            rule.required_str("Status")?.as_str(),
                        ))
                        .filter(
                            LifecycleRuleFilter::builder()
                                .prefix(rule.str("Prefix")?.unwrap_or_default())
                                .build(),
                        )
                        .set_expiration(
                            rule.i32("ExpirationInDays")?
                                .map(|days| LifecycleExpiration::builder().days(days).build()),
                        )
                        .set_transitions((!transitions.is_empty()).then_some(transitions))
                        .set_abort_incomplete_multipart_upload(abort)
                        .set_noncurrent_version_expiration(
                            rule.i32("NoncurrentVersionExpirationInDays")?.map(|days| {
                                NoncurrentVersionExpiration::builder()
                                    .noncurrent_days(days)
                                    .build()
                            }),
                        )
                        .build()
                        .map_err(|e| p.api("building LifecycleRule", e))?;
                    rules.push(built);
                }
                let configuration = BucketLifecycleConfiguration::builder()
                    .set_rules(Some(rules))
                    .build()
                    .map_err(|e| p.api("building BucketLifecycleConfiguration", e))?;
                s3.put_bucket_lifecycle_configuration()
                    .bucket(bucket)
                    .lifecycle_configuration(configuration)
                    .send()
                    .await
                    .map_err(|e| p.api("PutBucketLifecycleConfiguration", e))?;
                applied.push("LifecycleConfiguration");
            }
        }

        if let Some(block) = p.child("PublicAccessBlockConfiguration")? {
            block.only(&[
                "BlockPublicAcls",
                "BlockPublicPolicy",
                "IgnorePublicAcls",
                "RestrictPublicBuckets",
            ])?;
            let current = found(
                p,
                "GetPublicAccessBlock",
                s3.get_public_access_block().bucket(bucket).send().await,
                &["NoSuchPublicAccessBlockConfiguration"],
            )?;
            if current.is_none() {
                s3.put_public_access_block()
                    .bucket(bucket)
                    .public_access_block_configuration(
                        PublicAccessBlockConfiguration::builder()
                            .set_block_public_acls(block.bool("BlockPublicAcls")?)
                            .set_block_public_policy(block.bool("BlockPublicPolicy")?)
                            .set_ignore_public_acls(block.bool("IgnorePublicAcls")?)
                            .set_restrict_public_buckets(block.bool("RestrictPublicBuckets")?)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| p.api("PutPublicAccessBlock", e))?;
                applied.push("PublicAccessBlockConfiguration");
            }
        }

        if let Some(ownership) = p.child("OwnershipControls")? {
            ownership.only(&["Rules"])?;
            let current = found(
                p,
                "GetBucketOwnershipControls",
                s3.get_bucket_ownership_controls()
                    .bucket(bucket)
                    .send()
                    .await,
                &["OwnershipControlsNotFoundError"],
            )?;
            if current.is_none() {
                let mut rules = Vec::new();
                for rule in ownership.children("Rules")? {
                    rule.only(&["ObjectOwnership"])?;
                    rules.push(
                        OwnershipControlsRule::builder()
                            .object_ownership(ObjectOwnership::from(
                                rule.required_str("ObjectOwnership")?.as_str(),
                            ))
                            .build()
                            .map_err(|e| p.api("building OwnershipControlsRule", e))?,
                    );
                }
                s3.put_bucket_ownership_controls()
                    .bucket(bucket)
                    .ownership_controls(
                        OwnershipControls::builder()
                            .set_rules(Some(rules))
                            .build()
                            .map_err(|e| p.api("building OwnershipControls", e))?,
                    )
                    .send()
                    .await
                    .map_err(|e| p.api("PutBucketOwnershipControls", e))?;
                applied.push("OwnershipControls");
            }
        }
        Ok(applied)
    }

    /// `StreamEncryption`.
    pub(super) async fn stream_properties(&self) -> Result<Vec<&'static str>, FillError> {
        use aws_sdk_kinesis::types::EncryptionType;
        let p = self.props;
        let Some(encryption) = p.child("StreamEncryption")? else {
            return Ok(Vec::new());
        };
        encryption.only(&["EncryptionType", "KeyId"])?;
        let stream = self.physical_id()?;
        let kinesis = &self.clients.kinesis;
        let summary = kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| p.api("DescribeStreamSummary", e))?;
        let encrypted = summary
            .stream_description_summary()
            .and_then(|s| s.encryption_type())
            .is_some_and(|t| *t != EncryptionType::None);
        if encrypted {
            return Ok(Vec::new());
        }
        kinesis
            .start_stream_encryption()
            .stream_name(stream)
            .encryption_type(EncryptionType::from(
                encryption.required_str("EncryptionType")?.as_str(),
            ))
            .key_id(encryption.required_str("KeyId")?)
            .send()
            .await
            .map_err(|e| p.api("StartStreamEncryption", e))?;
        Ok(vec!["StreamEncryption"])
    }

    /// `KeyPolicy`: a key whose policy the service cannot give back as the template's document
    /// (moto keeps a template's policy as an object, and then fails `DescribeKey` with a 500).
    pub(super) async fn key_properties(&self) -> Result<Vec<&'static str>, FillError> {
        use aws_sdk_kms::error::SdkError;
        let p = self.props;
        if !p.map.contains_key("KeyPolicy") {
            return Ok(Vec::new());
        }
        let document = p.document("KeyPolicy")?;
        let key = self.physical_id()?;
        let kms = &self.clients.kms;
        match kms
            .get_key_policy()
            .key_id(key)
            .policy_name("default")
            .send()
            .await
        {
            Ok(current)
                if current
                    .policy()
                    .is_some_and(|c| same_document(c, &document)) =>
            {
                return Ok(Vec::new());
            }
            // Not reaching the service is an error; an answer we cannot read is a missing policy.
            Err(
                e @ (SdkError::DispatchFailure(_)
                | SdkError::TimeoutError(_)
                | SdkError::ConstructionFailure(_)),
            ) => {
                return Err(p.api("GetKeyPolicy", e));
            }
            _ => {}
        }
        kms.put_key_policy()
            .key_id(key)
            .policy_name("default")
            .policy(document)
            .send()
            .await
            .map_err(|e| p.api("PutKeyPolicy", e))?;
        Ok(vec!["KeyPolicy"])
    }

    /// `PointInTimeRecoverySpecification`. (Server-side encryption cannot be changed after
    /// creation in every backend: moto ignores it, see the README.)
    pub(super) async fn table_properties(&self) -> Result<Vec<&'static str>, FillError> {
        use aws_sdk_dynamodb::types::{
            PointInTimeRecoverySpecification, PointInTimeRecoveryStatus,
        };
        let p = self.props;
        let Some(pitr) = p.child("PointInTimeRecoverySpecification")? else {
            return Ok(Vec::new());
        };
        pitr.only(&["PointInTimeRecoveryEnabled", "RecoveryPeriodInDays"])?;
        if pitr.bool("PointInTimeRecoveryEnabled")? != Some(true) {
            return Ok(Vec::new());
        }
        let table = self.physical_id()?;
        let dynamodb = &self.clients.dynamodb;
        let backups = dynamodb
            .describe_continuous_backups()
            .table_name(table)
            .send()
            .await
            .map_err(|e| p.api("DescribeContinuousBackups", e))?;
        let enabled = backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|d| d.point_in_time_recovery_status())
            == Some(&PointInTimeRecoveryStatus::Enabled);
        if enabled {
            return Ok(Vec::new());
        }
        dynamodb
            .update_continuous_backups()
            .table_name(table)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .set_recovery_period_in_days(pitr.i32("RecoveryPeriodInDays")?)
                    .build()
                    .map_err(|e| p.api("building PointInTimeRecoverySpecification", e))?,
            )
            .send()
            .await
            .map_err(|e| p.api("UpdateContinuousBackups", e))?;
        Ok(vec!["PointInTimeRecoverySpecification"])
    }
}
