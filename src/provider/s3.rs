//! S3 for `reconcile`: an `object_store` S3 client signed with the AWS SDK's credential chain
//! (the same chain, profile and region as `compare`), and `--endpoint-url` for a local S3
//! server such as moto. Path-style requests, so that a bucket needs no DNS name.

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use std::sync::Arc;

/// How to reach S3: the same settings `compare` takes.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// The region (else the SDK's chain decides).
    pub region: Option<String>,
    /// A local S3 server (moto) or another endpoint.
    pub endpoint_url: Option<String>,
    /// The AWS profile.
    pub profile: Option<String>,
}

/// A store for one bucket.
pub async fn store(
    bucket: &str,
    s3: &S3Settings,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = &s3.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &s3.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    let config = loader.load().await;
    let region = config.region().map(|r| r.to_string());
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region.unwrap_or_else(|| crate::defaults::OFFLINE_REGION.to_string()));
    if let Some(url) = &s3.endpoint_url {
        builder = builder
            .with_endpoint(url)
            .with_allow_http(url.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    if let Some(provider) = config.credentials_provider() {
        builder = builder.with_credentials(Arc::new(ChainCredentials(provider)));
    } else {
        builder = builder.with_skip_signature(true);
    }
    Ok(Arc::new(builder.build()?))
}

/// The SDK's credential chain, as `object_store` asks for credentials.
#[derive(Debug)]
struct ChainCredentials(aws_credential_types::provider::SharedCredentialsProvider);

#[async_trait::async_trait]
impl object_store::CredentialProvider for ChainCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        use aws_credential_types::provider::ProvideCredentials;
        let c = self
            .0
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: super::bedrock::describe(&e).into(),
            })?;
        Ok(Arc::new(AwsCredential {
            key_id: c.access_key_id().to_string(),
            secret_key: c.secret_access_key().to_string(),
            token: c.session_token().map(str::to_string),
        }))
    }
}
